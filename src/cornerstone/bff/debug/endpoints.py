"""How the running BFF is (admin only): its version and uptime, and whether each dependency it
needs answers, measured on the spot - the kernel's readiness probe, a ``SELECT 1`` on the
database, a ``PING`` to Redis when rate-limit counters are shared there; the state of each
dependency's circuit breaker; and the recent server errors and failed outbound calls. Nothing of
any org's data is read or shown: these describe the process, which serves every org."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from cornerstone import __version__
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.kernel_client.client import KernelClient
from cornerstone.bff.ratelimit import CounterStore
from cornerstone.kit.db import Database
from cornerstone.kit.recent_errors import CAPACITY, RECENT_ERRORS
from cornerstone.kit.resilience import CircuitBreaker

router = APIRouter(prefix="/api/debug", tags=["debug"])
log = structlog.get_logger("cornerstone.bff.debug")

Admin = Annotated[Principal, Depends(require(Permission.DEBUG_READ))]

# When this process loaded the BFF (the app is built once, at start-up).
_STARTED = time.monotonic()
# A dependency that has not answered by then is reported unreachable, not waited for.
PROBE_TIMEOUT_SECONDS = 5.0


class Dependency(BaseModel):
    reachable: bool
    latency_ms: float | None  # null when it did not answer


class RedisStatus(BaseModel):
    configured: bool
    reachable: bool | None  # null when not configured
    latency_ms: float | None
    backend: str  # where rate-limit counters go right now: "redis" or "memory"


class Circuit(BaseModel):
    dependency: str
    state: str  # "closed", "open" or "half_open"
    failure_rate: float | None  # a fraction of the calls in the window; null before any call
    slow_call_rate: float | None
    calls_in_window: int
    opened_at: datetime | None  # when it last opened; null while closed
    retry_in_seconds: float | None  # while open: until the next probe is let through


class Circuits(BaseModel):
    circuits: list[Circuit]


class Status(BaseModel):
    version: str
    uptime_seconds: float
    kernel: Dependency
    database: Dependency
    redis: RedisStatus
    circuits: list[Circuit]


class RecentErrorItem(BaseModel):
    at: datetime
    request_id: str | None
    route: str | None  # the route template, never a raw path
    status: int | None
    code: str | None
    error: str  # the kind of failure, never a message or a body
    dependency: str | None  # set for a failed outbound call


class RecentErrors(BaseModel):
    items: list[RecentErrorItem]


def breakers(request: Request) -> list[CircuitBreaker]:
    """Every dependency's breaker in this process (only the kernel's for now)."""
    kernel: KernelClient = request.app.state.kernel
    return [kernel.resilience.breaker]


def _circuits(request: Request) -> list[Circuit]:
    return [Circuit.model_validate(breaker.snapshot(), from_attributes=True) for breaker in breakers(request)]


@router.get("/circuits", response_model=Circuits)
async def circuits(request: Request, _admin: Admin) -> Circuits:
    """Each outbound dependency's circuit breaker as it is now."""
    return Circuits(circuits=_circuits(request))


@router.get("/errors", response_model=RecentErrors)
async def errors(
    _admin: Admin, limit: Annotated[int, Query(ge=1, le=CAPACITY, description="Most recent first.")] = 50
) -> RecentErrors:
    """Recent server-side errors and failed outbound calls of this process (the last 200 at most)."""
    return RecentErrors(items=[RecentErrorItem.model_validate(item.as_dict()) for item in RECENT_ERRORS.latest(limit)])


@router.get("/status", response_model=Status)
async def status(request: Request, _admin: Admin) -> Status:
    """Version, uptime, and each dependency's reachability and round-trip time, probed concurrently."""
    kernel: KernelClient = request.app.state.kernel
    database: Database = request.app.state.database
    store: CounterStore | None = getattr(request.app.state, "rate_limit_store", None)
    kernel_probe, database_probe, redis_probe = await asyncio.gather(
        _timed(kernel.ready, "kernel"), _timed(_database_ping(database), "database"), _redis(store)
    )
    return Status(
        version=__version__,
        uptime_seconds=round(time.monotonic() - _STARTED, 3),
        kernel=kernel_probe,
        database=database_probe,
        redis=redis_probe,
        circuits=_circuits(request),
    )


def _database_ping(database: Database) -> Callable[[], Awaitable[bool]]:
    async def ping() -> bool:
        await database.ping()  # SELECT 1
        return True

    return ping


async def _timed(probe: Callable[[], Awaitable[bool]], name: str) -> Dependency:
    """Run ``probe`` (True when the dependency is ready) with a timing; any failure is "unreachable"."""
    started = time.perf_counter()
    try:
        ready = bool(await asyncio.wait_for(probe(), PROBE_TIMEOUT_SECONDS))
    except Exception as exc:  # noqa: BLE001 - any failure of a probe means "not reachable"
        log.warning("status_probe_failed", dependency=name, error=type(exc).__name__)
        ready = False
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return Dependency(reachable=ready, latency_ms=elapsed if ready else None)


async def _redis(store: CounterStore | None) -> RedisStatus:
    if store is None or store.redis is None:
        return RedisStatus(configured=False, reachable=None, latency_ms=None, backend="memory")
    probe = await _timed(store.redis.check, "redis")
    return RedisStatus(configured=True, reachable=probe.reachable, latency_ms=probe.latency_ms, backend=store.backend)

"""How the running BFF is (admin only): its version and uptime, and whether each dependency it
needs answers, measured on the spot - the kernel's readiness probe, a ``SELECT 1`` on the
database, a ``PING`` to Redis when rate-limit counters are shared there. Nothing of any org's
data is read or shown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from cornerstone import __version__
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.kernel_client.client import KernelClient
from cornerstone.bff.ratelimit import CounterStore
from cornerstone.kit.db import Database

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


class Status(BaseModel):
    version: str
    uptime_seconds: float
    kernel: Dependency
    database: Dependency
    redis: RedisStatus
    # Circuit breakers are not built yet: always empty for now.
    circuits: list[dict[str, object]]


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
        circuits=[],
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

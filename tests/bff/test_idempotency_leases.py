"""In-flight claims are leases (API.md, cross-cutting rules, "in-flight keys"): renewed while their
request is alive, however slow its action, and free again within seconds of their process dying.

These tests drive ``Idempotency`` itself on the real BFF database of each backend (on PostgreSQL
as the app role, under row-level security), two instances with the same key standing for two
requests, possibly in two BFF processes. A claim made by ``_claim`` and never completed is what a
process killed mid-action leaves behind: a row nobody renews. The whole-process version (a BFF
SIGKILLed mid-request) is tests/integration/test_idempotency_leases.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cornerstone.bff.config import BffSettings
from cornerstone.bff.idempotency import IN_FLIGHT_LEASE, RECORD_TTL, REPLAYED_HEADER, Idempotency
from cornerstone.bff.maintenance import sweep_expired
from cornerstone.bff.models import IdempotencyRecordRow
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.db import Database
from cornerstone.kit.ids import new_id
from cornerstone.kit.problems import AppError, Conflict, IdempotencyInFlight, ServiceUnavailable
from tests.support import Databases

HEARTBEAT_TASK = "idempotency-lease-heartbeat"
SHORT_LEASE = timedelta(seconds=0.6)


class KernelInFlight(Conflict):
    """Stands in for the kernel's own 409 ``IDEMPOTENCY_IN_FLIGHT`` forwarded by the kernel client."""

    code = "IDEMPOTENCY_IN_FLIGHT"
    title = "Request with this idempotency key in flight"


class Request:
    """One money request of one org: a fresh ``Idempotency`` per call, as each HTTP request gets."""

    def __init__(
        self,
        database: Database,
        org_id: str,
        key: str,
        *,
        lease: timedelta = SHORT_LEASE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database, self.org_id, self.key, self.lease, self.clock = database, org_id, key, lease, clock

    def idempotency(self, fingerprint: str = "f" * 64) -> Idempotency:
        return Idempotency(
            self.database,
            org_id=self.org_id,
            user_id=new_id(),
            key=self.key,
            fingerprint=fingerprint,
            lease=self.lease,
            clock=self.clock,
        )

    async def run(self, action: Callable[[], Awaitable[Any]]) -> Any:
        return await self.idempotency().run(status_code=201, action=action)


@asynccontextmanager
async def bff_database(url: str) -> AsyncIterator[Database]:
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()


async def stored(database: Database, org_id: str, key: str) -> IdempotencyRecordRow | None:
    async with database.session(org_id=org_id) as session:
        return (
            await session.execute(
                select(IdempotencyRecordRow).where(
                    IdempotencyRecordRow.org_id == org_id, IdempotencyRecordRow.key == key
                )
            )
        ).scalar_one_or_none()


def heartbeats() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == HEARTBEAT_TASK and not task.done()]


async def in_flight_answer(request: Request, action: Callable[[], Awaitable[Any]]) -> IdempotencyInFlight:
    with pytest.raises(IdempotencyInFlight) as refused:
        await request.run(action)
    return refused.value


def retry_after(error: AppError) -> int:
    return int(error.headers["Retry-After"])


# --- a live request keeps its key ------------------------------------------------------------------


def test_a_slow_action_outliving_its_lease_many_times_is_never_taken_over(databases: Databases) -> None:
    org_id, key = new_id(), f"key-{uuid.uuid4()}"
    runs: list[str] = []

    async def scenario() -> None:
        async with bff_database(databases.bff_app_url) as database:
            first, retry = Request(database, org_id, key), Request(database, org_id, key)
            release = asyncio.Event()

            async def slow() -> dict[str, str]:
                runs.append("first")
                await release.wait()
                return {"id": "call-1"}

            async def second() -> dict[str, str]:
                runs.append("retry")
                return {"id": "call-2"}

            running = asyncio.create_task(first.run(slow))
            while not runs:  # the first request has claimed the key and its action runs
                assert not running.done()
                await asyncio.sleep(0.01)
            wait_started = time.monotonic()
            leases_seen = []
            # Five leases long: a claim that were not renewed would have lapsed four times over.
            while time.monotonic() - wait_started < 5 * SHORT_LEASE.total_seconds():
                refused = await in_flight_answer(retry, second)
                assert retry_after(refused) == 1  # the 0.6 s lease, rounded up to a whole second
                row = await stored(database, org_id, key)
                assert row is not None
                assert row.state == "in_flight"
                leases_seen.append(as_utc(row.expires_at))
                assert as_utc(row.expires_at) > utcnow()
                await asyncio.sleep(0.1)
            assert len(set(leases_seen)) >= 5, "the lease was not renewed"
            assert max(leases_seen) - min(leases_seen) >= SHORT_LEASE * 3
            assert not running.done()
            release.set()
            answer = await running
            assert answer.status_code == 201
            row = await stored(database, org_id, key)
            assert row is not None
            assert row.state == "completed"
            assert row.completed_at is not None
            # Completed: from now on the row is kept for the 24-hour retention, not a lease.
            assert as_utc(row.expires_at) == as_utc(row.completed_at) + RECORD_TTL
            replay = await retry.run(second)
            assert (replay.status_code, replay.headers[REPLAYED_HEADER]) == (201, "true")
            assert replay.body == answer.body

    asyncio.run(scenario())
    assert runs == ["first"]


@pytest.mark.parametrize("ending", ["success", "refusal", "outage", "crash", "cancelled"])
def test_the_heartbeat_ends_with_the_request(databases: Databases, ending: str) -> None:
    """However the request ends, no renewal outlives it: no task is left, and the row (a stored
    outcome, or none) is not touched again."""
    org_id, key = new_id(), f"key-{uuid.uuid4()}"

    async def scenario() -> None:
        async with bff_database(databases.bff_app_url) as database:
            request = Request(database, org_id, key)
            started = asyncio.Event()

            async def action() -> dict[str, str]:
                started.set()
                await asyncio.sleep(2.5 * SHORT_LEASE.total_seconds())  # a few renewals happen meanwhile
                if ending == "refusal":
                    raise Conflict("refused by the kernel")
                if ending == "outage":
                    raise ServiceUnavailable("the kernel is down")
                if ending == "crash":
                    raise RuntimeError("half-way")
                if ending == "cancelled":
                    await asyncio.Event().wait()
                return {"id": "x"}

            task = asyncio.create_task(request.run(action))
            await started.wait()
            assert len(heartbeats()) == 1
            if ending == "cancelled":
                await asyncio.sleep(2.5 * SHORT_LEASE.total_seconds())
                task.cancel()
            if ending == "success":
                assert (await task).status_code == 201
            else:
                with pytest.raises((AppError, RuntimeError, asyncio.CancelledError)):
                    await task
            assert heartbeats() == []
            before = await stored(database, org_id, key)
            await asyncio.sleep(2 * SHORT_LEASE.total_seconds())  # two renewal intervals and more
            after = await stored(database, org_id, key)
            if ending in {"success", "refusal"}:
                assert before is not None
                assert after is not None
                assert before.state == after.state == "completed"
                assert as_utc(after.expires_at) == as_utc(before.expires_at)
            else:
                assert before is None
                assert after is None

    asyncio.run(scenario())


# --- a dead request frees its key ---------------------------------------------------------------------


def test_a_claim_nobody_renews_answers_409_until_its_lease_ends_then_is_taken_over(databases: Databases) -> None:
    """A claim left by a process that died: Retry-After counts down to its lease's end (read from
    the clock, so exactly), and at that instant the next request takes it over and runs."""
    org_id, key = new_id(), f"key-{uuid.uuid4()}"
    lease = timedelta(seconds=5)
    now = [utcnow()]
    runs: list[str] = []

    async def action() -> dict[str, str]:
        runs.append("retry")
        return {"id": "call"}

    async def scenario() -> None:
        async with bff_database(databases.bff_app_url) as database:
            dead = Request(database, org_id, key, lease=lease, clock=lambda: now[0])
            assert isinstance(await dead.idempotency()._claim(), str)  # claimed, then the process died
            retry = Request(database, org_id, key, lease=lease, clock=lambda: now[0])
            claimed_at = now[0]
            for elapsed, expected in ((0.0, 5), (1.2, 4), (3.0, 2), (4.5, 1), (4.999, 1)):
                now[0] = claimed_at + timedelta(seconds=elapsed)
                refused = await in_flight_answer(retry, action)
                assert retry_after(refused) == expected, elapsed
                assert f"in {expected} second" in refused.detail
            assert runs == []
            now[0] = claimed_at + lease
            answer = await retry.run(action)
            assert answer.status_code == 201
            assert REPLAYED_HEADER.lower() not in answer.headers
            row = await stored(database, org_id, key)
            assert row is not None
            assert row.state == "completed"

    asyncio.run(scenario())
    assert runs == ["retry"]


def test_a_dead_claim_frees_its_key_within_its_lease_in_real_time(databases: Databases) -> None:
    org_id, key = new_id(), f"key-{uuid.uuid4()}"

    async def action() -> dict[str, str]:
        return {"id": "call"}

    async def scenario() -> float:
        async with bff_database(databases.bff_app_url) as database:
            assert isinstance(await Request(database, org_id, key).idempotency()._claim(), str)
            died = time.monotonic()
            retry = Request(database, org_id, key)
            while True:
                try:
                    answer = await retry.run(action)
                except IdempotencyInFlight:
                    assert time.monotonic() - died < 10, "the dead claim was never freed"
                    await asyncio.sleep(0.05)
                    continue
                assert answer.status_code == 201
                return time.monotonic() - died

    freed_after = asyncio.run(scenario())
    assert SHORT_LEASE.total_seconds() * 0.8 <= freed_after < SHORT_LEASE.total_seconds() + 2.0


def test_a_claim_lost_while_its_process_was_stalled_is_not_renewed_nor_overwritten(databases: Databases) -> None:
    """A request whose clock puts every renewal in the past stands for a process stalled past its
    lease: another request takes its key over; the first one's heartbeat then finds the row is no
    longer its own and stops, and its late outcome does not overwrite the stored one."""
    org_id, key = new_id(), f"key-{uuid.uuid4()}"

    async def scenario() -> None:
        async with bff_database(databases.bff_app_url) as database:
            stalled = Request(database, org_id, key, clock=lambda: utcnow() - timedelta(hours=1))
            retry = Request(database, org_id, key)
            taken_over = asyncio.Event()

            async def late() -> dict[str, str]:
                await taken_over.wait()
                await asyncio.sleep(2 * SHORT_LEASE.total_seconds())  # its heartbeat beats meanwhile
                assert heartbeats() == [], "the heartbeat kept renewing a claim that is not its own"
                return {"id": "late"}

            async def prompt() -> dict[str, str]:
                return {"id": "prompt"}

            first = asyncio.create_task(stalled.run(late))
            while await stored(database, org_id, key) is None:  # its claim is written
                assert not first.done()
                await asyncio.sleep(0.01)
            answer = await retry.run(prompt)
            taken_over.set()
            assert answer.status_code == 201
            late_answer = await first
            assert late_answer.status_code == 201
            assert b"late" in late_answer.body
            replay = await retry.run(prompt)
            assert replay.headers[REPLAYED_HEADER] == "true"
            assert replay.body == answer.body  # the outcome stored is the one that took over

    asyncio.run(scenario())


def test_the_kernels_in_flight_answer_after_a_takeover_is_not_stored(databases: Databases) -> None:
    """After a takeover the kernel may still be running the dead request's attempt: its 409
    ``IDEMPOTENCY_IN_FLIGHT`` is not an outcome. The client gets a 409 with Retry-After, the claim is
    released, and the next retry gets the kernel's stored outcome."""
    org_id, key = new_id(), f"key-{uuid.uuid4()}"
    kernel_answers: list[Callable[[], dict[str, str]]] = []

    def kernel_busy() -> dict[str, str]:
        raise KernelInFlight("A request with this Idempotency-Key is being processed; retry shortly.")

    kernel_answers += [kernel_busy, lambda: {"id": "call-from-the-first-attempt"}]

    async def forward() -> dict[str, str]:
        return kernel_answers.pop(0)()

    async def scenario() -> None:
        async with bff_database(databases.bff_app_url) as database:
            request = Request(database, org_id, key)
            refused = await in_flight_answer(request, forward)
            assert retry_after(refused) == 1
            assert "retry with the same key" in refused.detail
            assert await stored(database, org_id, key) is None
            answer = await request.run(forward)
            assert answer.status_code == 201
            assert b"call-from-the-first-attempt" in answer.body

    asyncio.run(scenario())
    assert kernel_answers == []


def test_the_sweeper_deletes_dead_claims_and_leaves_live_ones(databases: Databases) -> None:
    org_id, dead_key, live_key = new_id(), f"key-{uuid.uuid4()}", f"key-{uuid.uuid4()}"

    async def scenario() -> None:
        async with bff_database(databases.bff_app_url) as database:
            assert isinstance(await Request(database, org_id, dead_key).idempotency()._claim(), str)
            release = asyncio.Event()

            async def slow() -> dict[str, str]:
                await release.wait()
                return {"id": "live"}

            live = asyncio.create_task(Request(database, org_id, live_key).run(slow))
            await asyncio.sleep(2 * SHORT_LEASE.total_seconds())  # the dead lease ends; the live one is renewed
            swept = await sweep_expired(database, utcnow())
            assert swept["idempotency_records"] >= 1
            assert await stored(database, org_id, dead_key) is None
            row = await stored(database, org_id, live_key)
            assert row is not None
            assert row.state == "in_flight"
            release.set()
            assert (await live).status_code == 201

    asyncio.run(scenario())


# --- the setting ------------------------------------------------------------------------------------


def test_the_lease_setting_defaults_to_the_service_lease_and_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert BffSettings().idempotency_lease_seconds == IN_FLIGHT_LEASE.total_seconds()
    monkeypatch.setenv("CORNERSTONE_IDEMPOTENCY_LEASE_SECONDS", "2.5")
    assert BffSettings().idempotency_lease_seconds == 2.5
    for wrong in ("0", "0.5", "301", "soon"):
        monkeypatch.setenv("CORNERSTONE_IDEMPOTENCY_LEASE_SECONDS", wrong)
        with pytest.raises(ValueError, match="idempotency_lease_seconds"):
            BffSettings()


def test_a_lease_must_be_positive(databases: Databases) -> None:
    async def scenario() -> None:
        async with bff_database(databases.bff_app_url) as database:
            with pytest.raises(ValueError, match="positive"):
                Request(database, new_id(), "key", lease=timedelta(0)).idempotency()

    asyncio.run(scenario())

"""Idempotent money POSTs (API.md, cross-cutting rules): claim the key, run once, store, replay.

A request claims its ``(org, Idempotency-Key)`` by inserting an ``in_flight`` row in a
transaction of its own, committed before anything else happens. The unique ``(org_id, key)``
decides a race: of two requests with the same key exactly one insert succeeds, the other
reads the row the winner wrote and answers from it (replay, 409 in flight, or 422 reused).
Nothing is read first to decide whether to write.

Outcomes that are stored (and replayed byte for byte for 24 hours): a success, and a refusal
below 500 raised by the action (e.g. the kernel's ``409 CALL_EXCEEDS_UNFUNDED``). Outcomes that
are not: a 5xx and any other exception; the claim is released, so the client retries with the
same key, and the kernel, which receives the key too, keeps the money from moving twice.

A claim is a lease. ``expires_at`` of an ``in_flight`` row is when its lease ends: a few seconds
after the claim (``lease``, ``CORNERSTONE_IDEMPOTENCY_LEASE_SECONDS``), pushed forward by a
heartbeat every third of the lease for as long as the request is alive, however slow the kernel
is. When its process dies (crash, SIGKILL) the heartbeat stops with it, the lease runs out within
seconds and the next request with the key takes the claim over and runs the action again: the
kernel receives the same ``Idempotency-Key`` and answers with what it stored, so the money moves
at most once. Without a lease the dead claim would block its key until it expired and push the
client to a *new* key, which is exactly what must not happen to a money request. Once
``completed``, ``expires_at`` is the end of the 24-hour retention instead, so the sweeper
(``cornerstone.bff.maintenance``) deletes a dead claim and an old outcome by the same rule.
Lease ends are read from each BFF's clock: replicas are assumed to agree to well under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from fastapi.encoders import jsonable_encoder
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from starlette.responses import Response

from cornerstone.bff.models import IdempotencyRecordRow
from cornerstone.kit.canonical import canonical_json
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.db import Database
from cornerstone.kit.idempotency_keys import KEY_HEADER, REPLAYED_HEADER
from cornerstone.kit.ids import new_id
from cornerstone.kit.metrics import IDEMPOTENCY_REPLAYS
from cornerstone.kit.problems import (
    AppError,
    IdempotencyInFlight,
    IdempotencyKeyReused,
    app_error_response,
)

log = structlog.get_logger("cornerstone.bff.idempotency")

RECORD_TTL = timedelta(hours=24)
# How long a claim holds its key without a heartbeat (the default of
# CORNERSTONE_IDEMPOTENCY_LEASE_SECONDS): a live request renews it every third of this, so it would
# have to miss two renewals in a row to be taken over; a dead one frees its key this long after
# its last renewal at the latest.
IN_FLIGHT_LEASE = timedelta(seconds=5)
IN_FLIGHT = "in_flight"
COMPLETED = "completed"
JSON_MEDIA_TYPE = "application/json"
# Retry-After of a 409 that has no lease to go by (the claim changed hands under us repeatedly).
IN_FLIGHT_RETRY_AFTER_SECONDS = 1
# Insert attempts per request: a lost race against a claim that is then released, or an expired
# or abandoned row deleted, is retried; more than this many in a row answers 409 in flight.
_CLAIM_ATTEMPTS = 3

Action = Callable[[], Awaitable[Any]]


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 (hex) of ``METHOD\\npath\\n`` and the body as canonical JSON, or the raw bytes of a
    body that is not JSON (empty included). Key order and whitespace of a JSON body do not count."""
    try:
        payload = canonical_json(json.loads(body)).encode("utf-8")
    except (ValueError, RecursionError):
        # Not JSON, JSON that canonical JSON refuses (NaN), or a lone surrogate: the bytes as sent.
        payload = body
    head = f"{method.upper()}\n{path}\n".encode("utf-8", "surrogatepass")
    return hashlib.sha256(head + payload).hexdigest()


def _json_bytes(result: Any) -> bytes:
    """What ``JSONResponse`` would send for ``result`` (models and dates encoded as FastAPI does)."""
    return json.dumps(
        jsonable_encoder(result), ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


class Idempotency:
    """One money request's key, bound to its org, caller and payload fingerprint.

    Built by ``cornerstone.bff.idempotency.dependencies.idempotency`` (the ``Idempotent``
    dependency); endpoints call ``run`` once.
    """

    def __init__(
        self,
        database: Database,
        *,
        org_id: str,
        user_id: str,
        key: str,
        fingerprint: str,
        lease: timedelta = IN_FLIGHT_LEASE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if lease <= timedelta(0):
            raise ValueError("the in-flight lease must be positive")
        self.database = database
        self.org_id = org_id
        self.user_id = user_id
        self.key = key
        self.fingerprint = fingerprint
        self.lease = lease
        self._clock = clock

    async def run(self, status_code: int, action: Action) -> Response:
        """Run ``action`` at most once per key and payload, and answer with its stored outcome.

        - first time: ``action()`` is awaited; its JSON-able result is the body of a
          ``status_code`` response, stored for replay. An ``AppError`` below 500 from the action is
          stored as the problem body the app renders for it, then re-raised (the problem handler
          renders the same bytes). A 5xx or any other exception releases the claim and propagates.
        - same key and payload again: the stored status and body, with ``Idempotency-Replayed: true``;
        - same key, other payload: 422 ``IDEMPOTENCY_KEY_REUSED``;
        - same key while the first is running: 409 ``IDEMPOTENCY_IN_FLIGHT`` with ``Retry-After``, the
          seconds until its lease ends; once its process has died and the lease ended, the action
          runs again (the kernel replays what the first run stored).

        The claim's lease is renewed while ``action`` runs and no longer: the heartbeat has ended
        before this returns or raises.
        """
        claimed = await self._claim()
        if isinstance(claimed, Response):
            return claimed
        try:
            async with self._heartbeat(claimed):
                result = await action()
            body = _json_bytes(result)
        except AppError as error:
            if error.status >= 500:
                await self._release(claimed)
                raise
            if error.code == IdempotencyInFlight.code:
                # The kernel is still running an earlier attempt with this key (one whose BFF died
                # and whose claim this request took over): not an outcome, so nothing is stored.
                await self._release(claimed)
                raise self._in_flight(IN_FLIGHT_RETRY_AFTER_SECONDS) from error
            rendered = app_error_response(error)
            await self._complete(claimed, rendered.status_code, bytes(rendered.body), rendered.media_type)
            raise
        except BaseException:
            await self._release(claimed)
            raise
        await self._complete(claimed, status_code, body, JSON_MEDIA_TYPE)
        return Response(content=body, status_code=status_code, media_type=JSON_MEDIA_TYPE)

    # --- the claim -------------------------------------------------------------------------------

    async def _claim(self) -> str | Response:
        """The id of the row this request now holds, or the replay of a completed one."""
        for _ in range(_CLAIM_ATTEMPTS):
            now = as_utc(self._clock())
            record_id = new_id()
            if await self._insert(record_id, now):
                return record_id
            existing = await self._existing()
            if existing is None:
                continue  # the holder released it between our insert and our read
            if self._stale(existing, now):
                if await self._delete_stale(existing.id, now) and existing.state == IN_FLIGHT:
                    log.info("idempotency_claim_taken_over", claimed_at=as_utc(existing.created_at).isoformat())
                continue
            if existing.fingerprint != self.fingerprint:
                raise IdempotencyKeyReused(
                    f"This `{KEY_HEADER}` was already used for a different request (another path or body) "
                    f"within the last {int(RECORD_TTL.total_seconds() // 3600)} hours; use a new key for a new request."
                )
            if existing.state == COMPLETED:
                IDEMPOTENCY_REPLAYS.inc()
                return self._replay(existing)
            raise self._in_flight(self._retry_after(existing, now))
        raise self._in_flight(IN_FLIGHT_RETRY_AFTER_SECONDS)

    async def _insert(self, record_id: str, now: datetime) -> bool:
        values = {
            "id": record_id,
            "org_id": self.org_id,
            "key": self.key,
            "fingerprint": self.fingerprint,
            "state": IN_FLIGHT,
            "user_id": self.user_id,
            "created_at": now,
            "expires_at": now + self.lease,
        }
        conflict_target = [IdempotencyRecordRow.org_id, IdempotencyRecordRow.key]
        if self.database.is_sqlite:
            statement = (
                sqlite_insert(IdempotencyRecordRow)
                .values(**values)
                .on_conflict_do_nothing(index_elements=conflict_target)
                .returning(IdempotencyRecordRow.id)
            )
        else:
            statement = (
                postgresql_insert(IdempotencyRecordRow)
                .values(**values)
                .on_conflict_do_nothing(index_elements=conflict_target)
                .returning(IdempotencyRecordRow.id)
            )
        # Its own unit of work, committed before the action runs: every other request sees the claim.
        async with self.database.session(write=True, org_id=self.org_id) as session:
            inserted = (await session.execute(statement)).scalar_one_or_none()
        return inserted is not None

    async def _existing(self) -> IdempotencyRecordRow | None:
        async with self.database.session(org_id=self.org_id) as session:
            return (
                await session.execute(
                    select(IdempotencyRecordRow).where(
                        IdempotencyRecordRow.org_id == self.org_id, IdempotencyRecordRow.key == self.key
                    )
                )
            ).scalar_one_or_none()

    @staticmethod
    def _stale(record: IdempotencyRecordRow, now: datetime) -> bool:
        """Past its ``expires_at``: a completed outcome past its retention, or a claim whose lease
        ran out (its request died, or stopped renewing)."""
        return as_utc(record.expires_at) <= now

    async def _delete_stale(self, record_id: str, now: datetime) -> bool:
        """Delete the row if it is still stale; whether it was deleted here."""
        # The condition is re-checked by the database: a lease renewed, or a row completed or
        # re-claimed meanwhile, stays.
        async with self.database.session(write=True, org_id=self.org_id) as session:
            deleted = (
                await session.execute(
                    delete(IdempotencyRecordRow)
                    .where(
                        IdempotencyRecordRow.org_id == self.org_id,
                        IdempotencyRecordRow.id == record_id,
                        IdempotencyRecordRow.expires_at <= now,
                    )
                    .returning(IdempotencyRecordRow.id)
                )
            ).scalar_one_or_none()
        return deleted is not None

    def _retry_after(self, record: IdempotencyRecordRow, now: datetime) -> int:
        """Whole seconds until the holder's lease ends (at least 1). Capped at this process's lease:
        a claim written with a longer one is retried no later than one of ours would end."""
        remaining = (as_utc(record.expires_at) - now).total_seconds()
        return max(1, min(math.ceil(remaining), math.ceil(self.lease.total_seconds())))

    @staticmethod
    def _replay(record: IdempotencyRecordRow) -> Response:
        assert record.status_code is not None, "a completed record has its status"
        assert record.response_body is not None, "a completed record has its body"
        return Response(
            content=bytes(record.response_body),
            status_code=record.status_code,
            media_type=record.content_type or JSON_MEDIA_TYPE,
            headers={REPLAYED_HEADER: "true"},
        )

    @staticmethod
    def _in_flight(retry_after: int) -> IdempotencyInFlight:
        return IdempotencyInFlight(
            f"A request with this `{KEY_HEADER}` is still being processed; retry with the same key "
            f"in {retry_after} second{'s' if retry_after != 1 else ''}.",
            headers={"Retry-After": str(retry_after)},
        )

    # --- while the action runs -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _heartbeat(self, record_id: str) -> AsyncIterator[None]:
        """Renew the claim's lease every third of the lease while the block runs.

        On leaving, the heartbeat is told to stop and awaited: a renewal under way finishes (it is
        never cancelled half-way through a database call) and no task outlives the request, even
        when the request itself is cancelled."""
        stop = asyncio.Event()
        task = asyncio.create_task(self._renew_until(stop, record_id), name="idempotency-lease-heartbeat")
        try:
            yield
        finally:
            stop.set()
            await asyncio.shield(task)

    async def _renew_until(self, stop: asyncio.Event, record_id: str) -> None:
        interval = self.lease.total_seconds() / 3
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
            try:
                held = await self._renew(record_id)
            except Exception:
                # A database hiccup: the next beat tries again; the lease has two more beats to go.
                log.warning("idempotency_lease_renewal_failed", exc_info=True)
                continue
            if not held:
                # Taken over after a lapse (or released): the row is no longer ours to renew.
                log.warning("idempotency_claim_lost_while_running")
                return

    async def _renew(self, record_id: str) -> bool:
        """Push the lease's end to ``lease`` from now; False when the claim is no longer this request's."""
        return await self._update_claim(record_id, expires_at=as_utc(self._clock()) + self.lease)

    async def _update_claim(self, record_id: str, **values: Any) -> bool:
        """Set ``values`` on the claim if it is still this request's (same row, still in flight), in a
        transaction of its own; whether it was."""
        async with self.database.session(write=True, org_id=self.org_id) as session:
            updated = (
                await session.execute(
                    update(IdempotencyRecordRow)
                    .where(
                        IdempotencyRecordRow.org_id == self.org_id,
                        IdempotencyRecordRow.id == record_id,
                        IdempotencyRecordRow.state == IN_FLIGHT,
                    )
                    .values(**values)
                    .returning(IdempotencyRecordRow.id)
                )
            ).scalar_one_or_none()
        return updated is not None

    # --- after the action ------------------------------------------------------------------------

    async def _complete(self, record_id: str, status_code: int, body: bytes, content_type: str | None) -> None:
        """Store the outcome. If that fails the outcome still stands (the money may have moved): the
        client gets it, the claim is released if possible so a retry runs again (the kernel dedupes
        by the key), and the gap is logged."""
        completed_at = as_utc(self._clock())
        try:
            stored = await self._update_claim(
                record_id,
                state=COMPLETED,
                status_code=status_code,
                response_body=body,
                content_type=content_type,
                completed_at=completed_at,
                expires_at=completed_at + RECORD_TTL,  # from now on: the retention, not a lease
            )
        except Exception:
            log.exception("idempotency_store_failed", status=status_code)
            await self._release(record_id)
            return
        if not stored:
            # The lease lapsed and a retry took the claim over: that retry's outcome is the stored one.
            log.warning("idempotency_claim_lost", status=status_code)

    async def _release(self, record_id: str) -> None:
        try:
            async with self.database.session(write=True, org_id=self.org_id) as session:
                await session.execute(
                    delete(IdempotencyRecordRow).where(
                        IdempotencyRecordRow.org_id == self.org_id,
                        IdempotencyRecordRow.id == record_id,
                        IdempotencyRecordRow.state == IN_FLIGHT,
                    )
                )
        except Exception:
            # The claim stays in flight until its lease ends (no heartbeat renews it now); retries get
            # 409 until then.
            log.exception("idempotency_release_failed")

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

A claim whose request died (the process crashed or was killed mid-action) would otherwise
block its key for 24 hours and push the client to a *new* key, which is exactly what must not
happen to a money request: an ``in_flight`` row older than ``IN_FLIGHT_LEASE`` is treated as
abandoned and may be taken over, like an expired one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from fastapi.encoders import jsonable_encoder
from sqlalchemy import and_, delete, or_, select, update
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
# Far longer than any money POST takes (the kernel's read timeout is seconds), so a live request
# is never taken over; short enough that a crashed one does not block its key for a day.
IN_FLIGHT_LEASE = timedelta(minutes=5)
IN_FLIGHT = "in_flight"
COMPLETED = "completed"
JSON_MEDIA_TYPE = "application/json"
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
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.org_id = org_id
        self.user_id = user_id
        self.key = key
        self.fingerprint = fingerprint
        self._clock = clock

    async def run(self, status_code: int, action: Action) -> Response:
        """Run ``action`` at most once per key and payload, and answer with its stored outcome.

        - first time: ``action()`` is awaited; its JSON-able result is the body of a
          ``status_code`` response, stored for replay. An ``AppError`` below 500 from the action is
          stored as the problem body the app renders for it, then re-raised (the problem handler
          renders the same bytes). A 5xx or any other exception releases the claim and propagates.
        - same key and payload again: the stored status and body, with ``Idempotency-Replayed: true``;
        - same key, other payload: 422 ``IDEMPOTENCY_KEY_REUSED``;
        - same key while the first is running: 409 ``IDEMPOTENCY_IN_FLIGHT``.
        """
        claimed = await self._claim()
        if isinstance(claimed, Response):
            return claimed
        try:
            result = await action()
            body = _json_bytes(result)
        except AppError as error:
            if error.status >= 500:
                await self._release(claimed)
                raise
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
                await self._delete_stale(existing.id, now)
                continue
            if existing.fingerprint != self.fingerprint:
                raise IdempotencyKeyReused(
                    f"This `{KEY_HEADER}` was already used for a different request (another path or body) "
                    f"within the last {int(RECORD_TTL.total_seconds() // 3600)} hours; use a new key for a new request."
                )
            if existing.state == COMPLETED:
                IDEMPOTENCY_REPLAYS.inc()
                return self._replay(existing)
            raise self._in_flight()
        raise self._in_flight()

    async def _insert(self, record_id: str, now: datetime) -> bool:
        values = {
            "id": record_id,
            "org_id": self.org_id,
            "key": self.key,
            "fingerprint": self.fingerprint,
            "state": IN_FLIGHT,
            "user_id": self.user_id,
            "created_at": now,
            "expires_at": now + RECORD_TTL,
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
        if as_utc(record.expires_at) <= now:
            return True
        return record.state == IN_FLIGHT and as_utc(record.created_at) <= now - IN_FLIGHT_LEASE

    async def _delete_stale(self, record_id: str, now: datetime) -> None:
        # The condition is re-checked by the database: a row completed or re-claimed meanwhile stays.
        async with self.database.session(write=True, org_id=self.org_id) as session:
            await session.execute(
                delete(IdempotencyRecordRow).where(
                    IdempotencyRecordRow.org_id == self.org_id,
                    IdempotencyRecordRow.id == record_id,
                    or_(
                        IdempotencyRecordRow.expires_at <= now,
                        and_(
                            IdempotencyRecordRow.state == IN_FLIGHT,
                            IdempotencyRecordRow.created_at <= now - IN_FLIGHT_LEASE,
                        ),
                    ),
                )
            )

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
    def _in_flight() -> IdempotencyInFlight:
        return IdempotencyInFlight(
            f"A request with this `{KEY_HEADER}` is still being processed; retry shortly with the same key.",
            headers={"Retry-After": str(IN_FLIGHT_RETRY_AFTER_SECONDS)},
        )

    # --- after the action ------------------------------------------------------------------------

    async def _complete(self, record_id: str, status_code: int, body: bytes, content_type: str | None) -> None:
        """Store the outcome. If that fails the outcome still stands (the money may have moved): the
        client gets it, the claim is released if possible so a retry runs again (the kernel dedupes
        by the key), and the gap is logged."""
        try:
            async with self.database.session(write=True, org_id=self.org_id) as session:
                stored = (
                    await session.execute(
                        update(IdempotencyRecordRow)
                        .where(
                            IdempotencyRecordRow.org_id == self.org_id,
                            IdempotencyRecordRow.id == record_id,
                            IdempotencyRecordRow.state == IN_FLIGHT,
                        )
                        .values(
                            state=COMPLETED,
                            status_code=status_code,
                            response_body=body,
                            content_type=content_type,
                            completed_at=as_utc(self._clock()),
                        )
                        .returning(IdempotencyRecordRow.id)
                    )
                ).scalar_one_or_none()
        except Exception:
            log.exception("idempotency_store_failed", status=status_code)
            await self._release(record_id)
            return
        if stored is None:
            # Held past IN_FLIGHT_LEASE and taken over by a retry: that retry's outcome is the stored one.
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
            # The claim stays in flight until IN_FLIGHT_LEASE passes; retries get 409 until then.
            log.exception("idempotency_release_failed")

"""Housekeeping the BFF runs on a timer: deleting revoked tokens and idempotency records that
have expired (a revoked token past its expiry fails verification anyway; an idempotency record
is kept 24 hours, as API.md promises, and no longer).

One transaction across every org, as the app role: on PostgreSQL the ``expired_sweep``
policies (migration b0006) let it see and delete expired rows only, and only in a transaction
opened with ``Database.session(sweep_expired=True)``. Several BFF replicas may sweep at once;
a row is deleted by whichever gets there first.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog
from sqlalchemy import delete

from cornerstone.bff.models import IdempotencyRecordRow, RevokedTokenRow
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.db import Database

log = structlog.get_logger("cornerstone.bff.maintenance")

EXPIRING = (RevokedTokenRow, IdempotencyRecordRow)


async def sweep_expired(database: Database, now: datetime) -> dict[str, int]:
    """Delete every expiring row whose ``expires_at`` is at or before ``now``; counts per table."""
    cutoff = as_utc(now)
    counts: dict[str, int] = {}
    async with database.session(write=True, sweep_expired=True) as session:
        for model in EXPIRING:
            result = await session.execute(delete(model).where(model.expires_at <= cutoff).returning(model.org_id))
            counts[model.__tablename__] = len(result.all())
    return counts


async def run_sweeper(database: Database, interval_seconds: float) -> None:
    """Sweep every ``interval_seconds`` until cancelled; a failed sweep is logged and retried next time."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            counts = await sweep_expired(database, utcnow())
        except Exception:
            log.exception("expired_sweep_failed")
            continue
        if any(counts.values()):
            log.info("expired_rows_swept", **counts)

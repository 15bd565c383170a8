"""Appending to and verifying the kernel event log.

Every kernel write calls ``append_event`` inside its own transaction, so the change and
its event commit or roll back together. Appends to one org's chain are serialized: on
PostgreSQL by a transaction-scoped advisory lock on the org, on SQLite by the write
transaction's ``BEGIN IMMEDIATE``; the unique ``(org_id, seq)`` constraint backs both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.events import Event
from cornerstone.kernel.events.chain import ChainedFields, event_hash
from cornerstone.kernel.models import EventRow
from cornerstone.kit.canonical import canonical_json
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.hashchain import GENESIS_HASH, ChainReport, lock_chain, rows_in_order, verify_rows
from cornerstone.kit.ids import new_id
from cornerstone.kit.request_context import current_request_id
from cornerstone.kit.service_auth import ServiceCaller


def _chained_fields(row: EventRow) -> ChainedFields:
    return ChainedFields(
        id=row.id,
        org_id=row.org_id,
        seq=row.seq,
        type=row.type,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        payload=row.payload,
        actor_id=row.actor_id,
        actor_role=row.actor_role,
        request_id=row.request_id,
        prev_hash=row.prev_hash,
        created_at=as_utc(row.created_at),
    )


def allocations_digest(allocations: Mapping[str, int]) -> str:
    """SHA-256 of per-investor amounts as canonical JSON: lets an event pin thousands of shares
    (stored in their own rows) without carrying them."""
    return hashlib.sha256(canonical_json(dict(allocations)).encode()).hexdigest()


async def append_event(
    session: AsyncSession,
    caller: ServiceCaller,
    *,
    type: str,
    subject_type: str,
    subject_id: str,
    payload: dict[str, Any],
) -> EventRow:
    org_id = caller.org_id
    await lock_chain(session, "events", org_id)
    head = (
        await session.execute(
            select(EventRow.seq, EventRow.hash).where(EventRow.org_id == org_id).order_by(EventRow.seq.desc()).limit(1)
        )
    ).first()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    row = EventRow(
        id=new_id(),
        org_id=org_id,
        seq=seq,
        type=type,
        subject_type=subject_type,
        subject_id=subject_id,
        payload=canonical_json(payload),
        actor_id=caller.actor_id,
        actor_role=caller.actor_role,
        request_id=current_request_id(),
        prev_hash=prev_hash,
        hash="",
        created_at=utcnow(),
    )
    row.hash = event_hash(_chained_fields(row))
    session.add(row)
    await session.flush()
    return row


def to_contract(row: EventRow) -> Event:
    return Event(
        id=row.id,
        seq=row.seq,
        type=row.type,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        payload=json.loads(row.payload),
        actor_id=row.actor_id,
        actor_role=row.actor_role,
        request_id=row.request_id,
        prev_hash=row.prev_hash,
        hash=row.hash,
        created_at=as_utc(row.created_at),
    )


async def list_events(
    session: AsyncSession, org_id: str, *, after: int, limit: int, subject_id: str | None
) -> list[EventRow]:
    statement = select(EventRow).where(EventRow.org_id == org_id, EventRow.seq > after)
    if subject_id is not None:
        statement = statement.where(EventRow.subject_id == subject_id)
    result = await session.execute(statement.order_by(EventRow.seq).limit(limit))
    return list(result.scalars())


async def verify_chain(session: AsyncSession, org_id: str) -> ChainReport:
    """Recompute every hash from the stored fields and check every link and sequence number."""
    return await verify_rows(
        org_id, rows_in_order(session, EventRow, org_id), lambda row: event_hash(_chained_fields(row))
    )


async def orgs_with_events(session: AsyncSession) -> list[str]:
    result = await session.execute(select(EventRow.org_id).distinct())
    return sorted(str(org) for org in result.scalars())

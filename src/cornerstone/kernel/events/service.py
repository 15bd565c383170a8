"""Appending to and verifying the kernel event log.

Every kernel write calls ``append_event`` inside its own transaction, so the change and
its event commit or roll back together. Appends to one org's chain are serialized: on
PostgreSQL by a transaction-scoped advisory lock on the org, on SQLite by the write
transaction's ``BEGIN IMMEDIATE``; the unique ``(org_id, seq)`` constraint backs both.

Each append also signs the new head into ``event_checkpoints`` (same transaction) when the session
carries the checkpoint key (``kit.hashchain.CHECKPOINT_KEY_INFO``: the kernel's write sessions do), so
deleting the newest events is detected by ``cornerstone kernel verify``. Money events pin the rows
they wrote or changed (``money_row_sha256``), so an edited amount is named by its table and id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.events import Event
from cornerstone.kernel.events.chain import ChainedFields, event_hash
from cornerstone.kernel.models import EventCheckpointRow, EventRow
from cornerstone.kit.canonical import canonical_json
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.db import Database
from cornerstone.kit.hashchain import (
    CHECKPOINT_KEY_INFO,
    GENESIS_HASH,
    ChainReport,
    append_checkpoint,
    checkpoint_key,
    lock_chain,
    rows_in_order,
    verify_rows,
)
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


CHAIN = "events"


@lru_cache(maxsize=8)
def events_checkpoint_key(service_key: str) -> bytes:
    """The key the kernel signs its event checkpoints with, derived from the service key: the one secret
    the kernel, the BFF and the operator commands already share (the data dir's ``secrets/service_key``,
    or ``CORNERSTONE_SERVICE_KEY``). Whoever holds it can already write through the kernel."""
    return checkpoint_key(service_key, CHAIN)


def money_row_sha256(fields: Mapping[str, Any]) -> str:
    """SHA-256 of one money row's fields as canonical JSON (dates as ISO strings): what a money event
    carries for each row it wrote or changed, and what verify recomputes from the stored row."""
    document = {key: value.isoformat() if isinstance(value, date) else value for key, value in fields.items()}
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


LEDGER_COVERED = ("id", "fund_id", "investor_id", "kind", "amount", "on", "source_type", "source_id")
"""The ledger entry's fields a money event pins: everything but bookkeeping (``request_id``, ``created_at``)."""


def ledger_entry_sha256(entry: Mapping[str, Any]) -> str:
    """``money_row_sha256`` of a ledger entry's covered fields (``entry`` maps at least ``LEDGER_COVERED``)."""
    return money_row_sha256({name: entry[name] for name in LEDGER_COVERED})


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
    key = session.info.get(CHECKPOINT_KEY_INFO)
    if key is not None:
        await append_checkpoint(
            session, EventCheckpointRow, key, chain=CHAIN, org_id=org_id, seq=seq, head_hash=row.hash
        )
    return row


async def anchor_head(database: Database, org_id: str, key: bytes) -> int | None:
    """Sign the current head of ``org_id``'s event log unless a checkpoint already covers it: for writers
    outside the kernel app (the demo seed), whose sessions carry no key. Returns the head's seq."""
    async with database.session(write=True, org_id=org_id) as session:
        await lock_chain(session, CHAIN, org_id)
        head = (
            await session.execute(
                select(EventRow.seq, EventRow.hash)
                .where(EventRow.org_id == org_id)
                .order_by(EventRow.seq.desc())
                .limit(1)
            )
        ).first()
        if head is None:
            return None
        covered = (
            await session.execute(
                select(EventCheckpointRow.id).where(
                    EventCheckpointRow.org_id == org_id, EventCheckpointRow.seq == head[0]
                )
            )
        ).first()
        if covered is None:
            await append_checkpoint(
                session, EventCheckpointRow, key, chain=CHAIN, org_id=org_id, seq=head[0], head_hash=head[1]
            )
        return int(head[0])


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

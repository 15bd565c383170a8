"""The BFF audit trail: one record per mutating request, append-only, hash-chained per org.

Sensitive values (passwords, tokens, tax ids, bank numbers) are masked before anything
is stored or hashed, so they never reach the audit table.

Each record is signed into ``audit_checkpoints`` in its own transaction (``kit.hashchain``): deleting the
newest records leaves a checkpoint past the end of the trail, which ``cornerstone audit verify`` names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.bff.models import AuditCheckpointRow, AuditRecordRow
from cornerstone.kit.canonical import canonical_json
from cornerstone.kit.clock import as_utc, isoformat_utc, utcnow
from cornerstone.kit.hashchain import (
    GENESIS_HASH,
    ChainReport,
    append_checkpoint,
    chain_hash,
    check_anchors,
    checkpoint_key,
    lock_chain,
    rows_in_order,
    verify_rows,
)
from cornerstone.kit.ids import new_id

CHAIN = "audit"
NO_ORG = "-"
ANONYMOUS = "anonymous"
MASK = "***"
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "current_password",
        "new_password",
        "access_token",
        "refresh_token",
        "token",
        "secret",
        "authorization",
        "tax_id",
        "bank_account",
        "bank_routing",
    }
)


def mask(value: Any) -> Any:
    """A copy of ``value`` with every sensitive key's value replaced by ``***``."""
    if isinstance(value, Mapping):
        return {key: (MASK if key in SENSITIVE_KEYS else mask(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [mask(item) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class AuditEntry:
    org_id: str
    actor_id: str | None
    actor_role: str
    action: str
    target_type: str | None
    target_id: str | None
    status: int
    error_code: str | None
    request_id: str
    client_ip: str | None
    user_agent: str | None
    changes: Mapping[str, Any] | None = None


def record_hash(row: AuditRecordRow) -> str:
    return chain_hash(
        {
            "id": row.id,
            "org_id": row.org_id,
            "seq": row.seq,
            "created_at": isoformat_utc(row.created_at),
            "actor_id": row.actor_id,
            "actor_role": row.actor_role,
            "action": row.action,
            "target_type": row.target_type,
            "target_id": row.target_id,
            "status": row.status,
            "error_code": row.error_code,
            "request_id": row.request_id,
            "client_ip": row.client_ip,
            "user_agent": row.user_agent,
            "changes": row.changes,
            "prev_hash": row.prev_hash,
        }
    )


@lru_cache(maxsize=8)
def audit_checkpoint_key(service_key: str) -> bytes:
    """The key the BFF signs its audit checkpoints with, derived from the service key (the secret the BFF,
    the kernel and the operator commands share: ``secrets/service_key`` in the data dir, or
    ``CORNERSTONE_SERVICE_KEY``); another derivation than the kernel's, so one chain's checkpoints never
    verify for the other."""
    return checkpoint_key(service_key, CHAIN)


async def append_record(session: AsyncSession, entry: AuditEntry, *, sign_with: bytes | None = None) -> AuditRecordRow:
    """Append ``entry`` to its org's chain and, given the key, sign the new head (same transaction)."""
    await lock_chain(session, CHAIN, entry.org_id)
    head = (
        await session.execute(
            select(AuditRecordRow.seq, AuditRecordRow.hash)
            .where(AuditRecordRow.org_id == entry.org_id)
            .order_by(AuditRecordRow.seq.desc())
            .limit(1)
        )
    ).first()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    row = AuditRecordRow(
        id=new_id(),
        org_id=entry.org_id,
        seq=seq,
        created_at=utcnow(),
        actor_id=entry.actor_id,
        actor_role=entry.actor_role,
        action=entry.action,
        target_type=entry.target_type,
        target_id=entry.target_id,
        status=entry.status,
        error_code=entry.error_code,
        request_id=entry.request_id,
        client_ip=entry.client_ip,
        user_agent=entry.user_agent[:256] if entry.user_agent else None,
        changes=canonical_json(mask(entry.changes)) if entry.changes is not None else None,
        prev_hash=prev_hash,
        hash="",
    )
    row.hash = record_hash(row)
    session.add(row)
    await session.flush()
    if sign_with is not None:
        await append_checkpoint(
            session, AuditCheckpointRow, sign_with, chain=CHAIN, org_id=row.org_id, seq=seq, head_hash=row.hash
        )
    return row


@dataclass(frozen=True, slots=True)
class AuditFilters:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    request_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(org_id: str, filters: AuditFilters) -> Select[AuditRecordRow]:
    statement = select(AuditRecordRow).where(AuditRecordRow.org_id == org_id)
    if filters.actor is not None:
        statement = statement.where(AuditRecordRow.actor_id == filters.actor)
    if filters.action is not None:
        statement = statement.where(AuditRecordRow.action == filters.action)
    if filters.target is not None:
        statement = statement.where(AuditRecordRow.target_id == filters.target)
    if filters.request_id is not None:
        statement = statement.where(AuditRecordRow.request_id == filters.request_id)
    if filters.since is not None:
        statement = statement.where(AuditRecordRow.created_at >= filters.since)
    if filters.until is not None:
        statement = statement.where(AuditRecordRow.created_at < filters.until)
    return statement


async def list_records(
    session: AsyncSession, org_id: str, filters: AuditFilters, *, limit: int, before_seq: int | None
) -> tuple[list[AuditRecordRow], int | None]:
    """Newest first, keyset-paged on ``seq``; the cursor is the last seq of the page."""
    statement = _filtered(org_id, filters)
    if before_seq is not None:
        statement = statement.where(AuditRecordRow.seq < before_seq)
    rows = list((await session.execute(statement.order_by(AuditRecordRow.seq.desc()).limit(limit + 1))).scalars())
    next_cursor = rows[limit - 1].seq if len(rows) > limit else None
    return rows[:limit], next_cursor


async def verify_audit_chain(session: AsyncSession, org_id: str) -> ChainReport:
    return await verify_rows(org_id, rows_in_order(session, AuditRecordRow, org_id), record_hash)


def checkpoint_key_of(app_state: Any) -> bytes | None:
    """The audit checkpoint key of a running BFF (derived from the service key at start-up, ``bff.app``);
    ``None`` for an app that has not started."""
    key = getattr(app_state, "audit_checkpoint_key", None)
    return key if isinstance(key, bytes) else None


async def verify_audit_trail(session: AsyncSession, org_id: str, key: bytes | None) -> ChainReport:
    """The chain walk, then (given the key) the signed checkpoints: rows deleted from the end of the trail, a
    rewritten trail or a forged checkpoint fail it too, named in ``reason`` (no record to point at)."""
    report = await verify_audit_chain(session, org_id)
    if not report.ok or key is None:
        return report
    anchors = await check_anchors(
        session, chain=CHAIN, rows=AuditRecordRow, checkpoints=AuditCheckpointRow, org_id=org_id, key=key
    )
    if not anchors.findings:
        return report
    first = anchors.findings[0]
    return ChainReport(org_id, False, report.checked, reason=f"{first.kind} {first.table} {first.id}: {first.detail}")


async def orgs_with_records(session: AsyncSession) -> list[str]:
    result = await session.execute(select(AuditRecordRow.org_id).distinct())
    return sorted(str(org) for org in result.scalars())


def changes_of(row: AuditRecordRow) -> Any:
    return json.loads(row.changes) if row.changes is not None else None


def created_at_of(row: AuditRecordRow) -> datetime:
    return as_utc(row.created_at)

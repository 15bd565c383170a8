"""Deal queries. Every statement starts from ``scoped_deals``: the org (and, for external
parties, the deals they are party to) is applied in one place, never by hand."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Select, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.kernel.models import DealRow
from cornerstone.kit.clock import as_utc, isoformat_utc
from cornerstone.kit.problems import ValidationFailed
from cornerstone.kit.service_auth import ServiceCaller


def scoped_deals(caller: ServiceCaller) -> Select[DealRow]:
    statement = select(DealRow).where(DealRow.org_id == caller.org_id)
    if caller.actor_role == "external":
        # External parties see only deals they are a party to; until deal parties exist
        # there are none, so they see nothing (never everything).
        statement = statement.where(false())
    return statement


async def get_deal(session: AsyncSession, caller: ServiceCaller, deal_id: str) -> DealRow | None:
    result = await session.execute(scoped_deals(caller).where(DealRow.id == deal_id))
    return result.scalar_one_or_none()


def encode_cursor(row: DealRow) -> str:
    raw = json.dumps([isoformat_utc(row.created_at), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        # Only the shape encode_cursor writes: anything else (e.g. `[1, 2]`) must be a 422, not a crash.
        if not (isinstance(decoded, list) and len(decoded) == 2 and all(isinstance(part, str) for part in decoded)):
            raise ValueError("not a [created_at, id] pair")
        created_at, deal_id = decoded
        return as_utc(datetime.fromisoformat(created_at.replace("Z", "+00:00"))), str(deal_id)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "Invalid fields: query.cursor",
            extra={"errors": [{"field": "query.cursor", "message": "not a cursor this API issued", "type": "cursor"}]},
        ) from exc


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_deals(
    session: AsyncSession,
    caller: ServiceCaller,
    *,
    stage: str | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[DealRow], str | None]:
    """Newest first, keyset-paginated on ``(created_at, id)`` so pages never skip or repeat."""
    statement = scoped_deals(caller)
    if stage is not None:
        statement = statement.where(DealRow.stage == stage)
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        statement = statement.where(
            or_(
                func.lower(DealRow.name).like(pattern, escape="\\"),
                func.lower(DealRow.city).like(pattern, escape="\\"),
            )
        )
    if cursor is not None:
        created_at, deal_id = decode_cursor(cursor)
        statement = statement.where(
            or_(DealRow.created_at < created_at, (DealRow.created_at == created_at) & (DealRow.id < deal_id))
        )
    statement = statement.order_by(DealRow.created_at.desc(), DealRow.id.desc()).limit(limit + 1)
    rows = list((await session.execute(statement)).scalars())
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def compare_and_set(
    session: AsyncSession, caller: ServiceCaller, deal_id: str, expected_version: int, values: Mapping[str, object]
) -> bool:
    """Write ``values`` and bump the version only if the deal is still at ``expected_version``.

    One UPDATE with the version in its WHERE clause: two concurrent writers cannot both win.
    """
    result = await session.execute(
        update(DealRow)
        .where(DealRow.org_id == caller.org_id, DealRow.id == deal_id, DealRow.version == expected_version)
        .values(**values, version=expected_version + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)

"""Keyset pagination for the kernel's lists: newest first on ``(created_at, id)``, an opaque cursor.

Pages never skip or repeat a row while others are inserted, and a cursor that this API did
not issue is a 422, never a crash.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, or_
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.kit.clock import as_utc, isoformat_utc
from cornerstone.kit.problems import invalid_field

Row = TypeVar("Row")
_Select = Select[*tuple[Any, ...]]  # a SELECT of any columns


def encode_cursor(row: Any) -> str:
    raw = json.dumps([isoformat_utc(row.created_at), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        # Only the shape encode_cursor writes: anything else (e.g. `[1, 2]`) must be a 422, not a crash.
        if not (isinstance(decoded, list) and len(decoded) == 2 and all(isinstance(part, str) for part in decoded)):
            raise ValueError("not a [created_at, id] pair")
        created_at, row_id = decoded
        return as_utc(datetime.fromisoformat(created_at.replace("Z", "+00:00"))), str(row_id)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_field("query.cursor", "not a cursor this API issued", "cursor") from exc


def _keyset(statement: _Select, columns: Any, *, limit: int, cursor: str | None) -> _Select:
    if cursor is not None:
        created_at, row_id = decode_cursor(cursor)
        statement = statement.where(
            or_(columns.created_at < created_at, (columns.created_at == created_at) & (columns.id < row_id))
        )
    return statement.order_by(columns.created_at.desc(), columns.id.desc()).limit(limit + 1)


async def keyset_page(
    session: AsyncSession, statement: Select[Any], model: type[Row], *, limit: int, cursor: str | None
) -> tuple[list[Row], str | None]:
    """One page of ``statement`` (rows of ``model``), newest first, and the cursor of the next page."""
    # every paged model has ``created_at`` and ``id`` columns
    rows = list((await session.execute(_keyset(statement, model, limit=limit, cursor=cursor))).scalars())
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def keyset_page_rows(
    session: AsyncSession, statement: _Select, model: type[Any], *, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """As ``keyset_page`` for a statement selecting several things, paged on ``model`` (its first): whole
    result rows, each with the ``model`` row first."""
    rows = list((await session.execute(_keyset(statement, model, limit=limit, cursor=cursor))).all())
    next_cursor = encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
    return rows[:limit], next_cursor

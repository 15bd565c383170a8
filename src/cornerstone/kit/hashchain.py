"""Per-org hash chains (the kernel event log, the BFF audit trail): hashing, locking, verifying.

Each row stores ``seq`` (1, 2, ... per org, unique), ``prev_hash`` (the previous row's hash,
or ``GENESIS_HASH``) and ``hash`` = SHA-256 of the canonical JSON of its stored fields. A
verifier recomputes every hash from the stored fields; comparing links alone proves nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.kit.canonical import canonical_json

GENESIS_HASH = "0" * 64


def chain_hash(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


async def lock_chain(session: AsyncSession, chain: str, org_id: str) -> None:
    """Serialize appends to one org's chain until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: the write transaction already
    holds the database's write lock (``BEGIN IMMEDIATE``), so there is nothing more to take.
    The unique ``(org_id, seq)`` constraint backs both.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"{chain}:{org_id}"}
        )


class ChainRow(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


RowT = TypeVar("RowT", bound=ChainRow)


@dataclass(frozen=True, slots=True)
class ChainReport:
    org_id: str
    ok: bool
    checked: int
    first_bad_id: str | None = None
    first_bad_seq: int | None = None
    reason: str | None = None


async def rows_in_order(session: AsyncSession, model: Any, org_id: str, batch: int = 1000) -> AsyncIterator[Any]:
    """One org's rows of a chained table (``org_id``, ``seq`` columns), in ``seq`` order, in batches."""
    after = 0
    while True:
        statement = select(model).where(model.org_id == org_id, model.seq > after).order_by(model.seq).limit(batch)
        rows = list((await session.execute(statement)).scalars())
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].seq


async def verify_rows(org_id: str, rows: AsyncIterator[RowT], recompute: Callable[[RowT], str]) -> ChainReport:
    """Walk one org's rows in ``seq`` order; name the first gap, broken link or wrong hash."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    async for row in rows:
        reason = None
        if row.seq != expected_seq:
            reason = f"sequence gap: expected {expected_seq}, found {row.seq}"
        elif row.prev_hash != expected_prev:
            reason = "prev_hash does not match the previous row's hash"
        elif recompute(row) != row.hash:
            reason = "stored hash does not match the recomputed hash of the stored fields"
        if reason:
            return ChainReport(org_id, False, checked, first_bad_id=row.id, first_bad_seq=row.seq, reason=reason)
        checked += 1
        expected_prev = row.hash
        expected_seq += 1
    return ChainReport(org_id, True, checked)

"""Per-org hash chains (the kernel event log, the BFF audit trail): hashing, locking, verifying.

Each row stores ``seq`` (1, 2, ... per org, unique), ``prev_hash`` (the previous row's hash,
or ``GENESIS_HASH``) and ``hash`` = SHA-256 of the canonical JSON of its stored fields. A
verifier recomputes every hash from the stored fields; comparing links alone proves nothing.

The chain alone cannot tell that its newest rows were deleted, nor that a row was rewritten with every
hash after it recomputed (the hashes are unkeyed). Signed checkpoints close both: each append also
writes, in its own transaction, a checkpoint row (a separate table) holding ``seq``, the row's ``hash``
and an HMAC-SHA256 over both with a key derived from a service secret. ``check_anchors`` holds the chain
against them: a bad signature, a checkpoint whose row now hashes differently, rows missing past the
newest checkpoint (named by count). What stays out of reach: someone who deletes the newest rows *and*
their checkpoints together (an in-database anchor cannot see that; an exported checkpoint can).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.kit.canonical import canonical_json
from cornerstone.kit.clock import utcnow
from cornerstone.kit.ids import new_id

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


# --- signed checkpoints: the chain's head, anchored outside the rows it covers -------------------

CHECKPOINT_KEY_INFO = "chain_checkpoint_key"
"""``AsyncSession.info`` key under which a service hands its checkpoint key to the code appending to a chain."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing verification found wrong, named so an operator can go and look: what kind of problem,
    in which table, on which row (a composite key is written ``a/b``), and the figures."""

    kind: str
    table: str
    id: str
    detail: str


def checkpoint_key(secret: str, chain: str) -> bytes:
    """The HMAC key of one chain's checkpoints, derived from a service secret (domain-separated per chain)."""
    return hmac.new(secret.encode(), f"cornerstone/checkpoint-key/{chain}".encode(), hashlib.sha256).digest()


def checkpoint_mac(key: bytes, *, chain: str, org_id: str, seq: int, head_hash: str) -> str:
    """HMAC-SHA256 over what a checkpoint asserts: this org's ``chain`` had ``seq`` rows, the last hashing to
    ``head_hash``. Without the key nobody can write a checkpoint that verifies."""
    document = {"chain": chain, "org_id": org_id, "seq": seq, "hash": head_hash}
    return hmac.new(key, canonical_json(document).encode(), hashlib.sha256).hexdigest()


async def append_checkpoint(
    session: AsyncSession, model: Any, key: bytes, *, chain: str, org_id: str, seq: int, head_hash: str
) -> None:
    """Sign the head ``(seq, head_hash)`` of one org's chain into its checkpoint table, in the caller's
    transaction (so it commits exactly when the row it covers does)."""
    session.add(
        model(
            id=new_id(),
            org_id=org_id,
            seq=seq,
            hash=head_hash,
            mac=checkpoint_mac(key, chain=chain, org_id=org_id, seq=seq, head_hash=head_hash),
            created_at=utcnow(),
        )
    )
    await session.flush()


@dataclass(frozen=True, slots=True)
class AnchorReport:
    """What the checkpoints of one org's chain say: ``findings`` (bad signatures, checkpoints that no longer
    match the row they covered, rows missing past the newest checkpoint), and ``checkpoints`` counted."""

    findings: tuple[Finding, ...]
    checkpoints: int
    last_checkpoint_seq: int | None
    last_seq: int | None


async def check_anchors(
    session: AsyncSession, *, chain: str, rows: Any, checkpoints: Any, org_id: str, key: bytes, batch: int = 1000
) -> AnchorReport:
    """Hold one org's chain (table ``rows``) against its signed checkpoints (table ``checkpoints``).

    Every checkpoint must carry a valid signature and the hash the chain row at its ``seq`` still has (a row
    rewritten together with every hash after it is caught here: the chain alone cannot tell). The newest
    checkpoint's ``seq`` must be present: rows deleted from the end of the chain are named as missing
    (``checkpoint seq - last seq present``), which the chain walk alone cannot see.
    """
    checkpoint_table, row_table = checkpoints.__table__, rows.__table__
    findings: list[Finding] = []
    last_seq = (await session.execute(select(func.max(rows.seq)).where(rows.org_id == org_id))).scalar_one_or_none()
    after, count, newest = -1, 0, None
    while True:
        statement = (
            select(checkpoints.id, checkpoints.seq, checkpoints.hash, checkpoints.mac, rows.id, rows.hash)
            .select_from(checkpoint_table)
            .outerjoin(row_table, (rows.org_id == checkpoints.org_id) & (rows.seq == checkpoints.seq))
            .where(checkpoints.org_id == org_id, checkpoints.seq > after)
            .order_by(checkpoints.seq)
            .limit(batch)
        )
        page = (await session.execute(statement)).all()
        if not page:
            break
        for checkpoint_id, seq, head_hash, mac, row_id, row_hash in page:
            count += 1
            expected = checkpoint_mac(key, chain=chain, org_id=org_id, seq=seq, head_hash=head_hash)
            if not hmac.compare_digest(expected, mac):
                findings.append(
                    Finding("checkpoint", checkpoint_table.name, checkpoint_id, f"seq {seq}: signature does not verify")
                )
                continue
            newest = seq
            if row_hash is not None and row_hash != head_hash:
                findings.append(
                    Finding(
                        "rewritten",
                        row_table.name,
                        row_id,
                        f"seq {seq}: the signed checkpoint {checkpoint_id} holds hash {head_hash[:12]}..., "
                        f"the row now hashes {row_hash[:12]}...",
                    )
                )
        after = page[-1][1]
    if newest is not None and (last_seq is None or last_seq < newest):
        present = last_seq or 0
        findings.append(
            Finding(
                "truncated",
                row_table.name,
                f"seq {present + 1}..{newest}",
                f"{newest - present} missing: the signed checkpoint is at seq {newest}, "
                f"the last row present is seq {present}",
            )
        )
    return AnchorReport(tuple(findings), count, newest, last_seq)

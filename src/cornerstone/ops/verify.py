"""``cornerstone kernel verify`` and ``cornerstone audit verify``: prove the chains, their heads and the money.

What is proved, per org:

1. The chain (``kit.hashchain.verify_rows``): every row's hash is recomputed from its stored fields, every
   link and every ``seq`` checked; the first bad row is named.
2. The head (``kit.hashchain.check_anchors``): with every append the service signs the new head (``seq``,
   ``hash``) into a checkpoint table of its own (``event_checkpoints``, ``audit_checkpoints``), HMAC-SHA256
   under a key derived from the service key. Verify checks every signature, that each checkpointed row still
   has the hash that was signed (a chain rewritten with recomputed hashes is caught here, which the unkeyed
   chain cannot show), and that the newest checkpoint's row is present: deleting the newest rows is named
   as ``truncated`` with how many are missing (checkpoint seq - last seq present). An org with no checkpoint
   at all (a chain written before checkpoints existed, not touched since) is reported as a note, not as a
   failure: its history cannot be anchored after the fact without trusting it. Rows after the newest
   checkpoint (written by a process without the key) are likewise a note.
3. The money (kernel only, ``verify_money``): every allocation, payment, distribution share, ledger entry and
   commitment against the events of its writes, named by table and id with the figures; then the books
   reconciled (allocations sum to their call, paid never above allocated, contributed never above committed,
   shares plus carry equal the distribution, each investor's ledger equals its sources).

Each problem is a ``Finding`` (kind, table, id, detail); the commands print every one and exit 1 if any.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.bff.audit.service import CHAIN as AUDIT_CHAIN
from cornerstone.bff.audit.service import audit_checkpoint_key, verify_audit_chain
from cornerstone.bff.models import AuditCheckpointRow, AuditRecordRow
from cornerstone.kernel.events.service import CHAIN as EVENTS_CHAIN
from cornerstone.kernel.events.service import events_checkpoint_key, verify_chain
from cornerstone.kernel.models import (
    CapitalCallRow,
    CommitmentRow,
    DistributionRow,
    EventCheckpointRow,
    EventRow,
    LedgerEntryRow,
)
from cornerstone.kit.db import Database
from cornerstone.kit.hashchain import ChainReport, Finding, check_anchors
from cornerstone.ops.verify_money import verify_money


@dataclass(frozen=True, slots=True)
class OrgReport:
    """Everything verify found for one org: the chain walk, the findings (any one fails it) and notes."""

    org_id: str
    chain: ChainReport
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()
    checkpoints: int = 0
    money_rows: int | None = None

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.findings


@dataclass(frozen=True, slots=True)
class _Chain:
    name: str
    rows: Any
    checkpoints: Any
    verify: Callable[[AsyncSession, str], Awaitable[ChainReport]]
    derive_key: Callable[[str], bytes]
    money: bool


KERNEL = _Chain(EVENTS_CHAIN, EventRow, EventCheckpointRow, verify_chain, events_checkpoint_key, money=True)
AUDIT = _Chain(AUDIT_CHAIN, AuditRecordRow, AuditCheckpointRow, verify_audit_chain, audit_checkpoint_key, money=False)
# Tables whose orgs are verified even when their chain is gone entirely (deleted events leave money rows).
KERNEL_ORG_TABLES = (EventRow, EventCheckpointRow, LedgerEntryRow, CommitmentRow, CapitalCallRow, DistributionRow)
AUDIT_ORG_TABLES = (AuditRecordRow, AuditCheckpointRow)


async def _orgs(session: AsyncSession, tables: Sequence[Any]) -> list[str]:
    found: set[str] = set()
    for table in tables:
        found.update(str(org) for org in (await session.execute(select(table.org_id).distinct())).scalars())
    return sorted(found)


async def _verify_org(session: AsyncSession, chain: _Chain, org_id: str, key: bytes | None) -> OrgReport:
    report = await chain.verify(session, org_id)
    findings: list[Finding] = []
    notes: list[str] = []
    checkpoints = 0
    if key is None:
        notes.append("no service key: checkpoints not checked")
    else:
        anchors = await check_anchors(
            session, chain=chain.name, rows=chain.rows, checkpoints=chain.checkpoints, org_id=org_id, key=key
        )
        findings += anchors.findings
        checkpoints = anchors.checkpoints
        if anchors.last_checkpoint_seq is None and anchors.last_seq is not None:
            notes.append(
                f"no signed checkpoint: the {anchors.last_seq} rows were written before checkpoints existed, "
                "so deleting the newest of them cannot be ruled out until the next write anchors them"
            )
        elif anchors.last_checkpoint_seq is not None and (anchors.last_seq or 0) > anchors.last_checkpoint_seq:
            notes.append(f"seq {anchors.last_checkpoint_seq + 1}..{anchors.last_seq} not yet under a signed checkpoint")
    money_rows = None
    if chain.money:
        money = await verify_money(session, org_id)
        findings += money.findings
        money_rows = money.rows_checked
    return OrgReport(org_id, report, tuple(findings), tuple(notes), checkpoints, money_rows)


async def _verify_all(
    url: str, org_id: str | None, chain: _Chain, org_tables: Sequence[Any], service_key: str | None
) -> list[OrgReport]:
    key = chain.derive_key(service_key) if service_key else None
    database = Database(url)
    try:
        if org_id:
            targets = [org_id]
        else:
            # The one cross-org read: which orgs have anything to verify (owner role only, read-only).
            async with database.session(all_orgs=True) as session:
                targets = await _orgs(session, org_tables)
        reports = []
        for target in targets:
            async with database.session(org_id=target) as session:
                reports.append(await _verify_org(session, chain, target, key))
        return reports
    finally:
        await database.dispose()


def verify_kernel_chains_sync(
    database_url: str, org_id: str | None = None, service_key: str | None = None
) -> list[OrgReport]:
    """Every org's event log, checkpoints and money (or ``org_id``'s); checkpoints need the ``service_key``."""
    return asyncio.run(_verify_all(database_url, org_id, KERNEL, KERNEL_ORG_TABLES, service_key))


def verify_audit_chains_sync(
    database_url: str, org_id: str | None = None, service_key: str | None = None
) -> list[OrgReport]:
    """Every org's audit trail and its checkpoints (or ``org_id``'s); checkpoints need the ``service_key``."""
    return asyncio.run(_verify_all(database_url, org_id, AUDIT, AUDIT_ORG_TABLES, service_key))


def _headline(report: OrgReport, noun: str) -> str:
    chain = report.chain
    if not chain.ok:
        return (
            f"BAD  org {report.org_id}: {noun[:-1]} {chain.first_bad_id} (seq {chain.first_bad_seq}): "
            f"{chain.reason}; {chain.checked} {noun} before it verified"
        )
    extra = [f"{report.checkpoints} checkpoints"]
    if report.money_rows is not None:
        extra.append(f"{report.money_rows} money rows")
    if report.findings:
        return f"BAD  org {report.org_id}: {len(report.findings)} findings; {chain.checked} {noun} verified, " + (
            ", ".join(extra)
        )
    return f"ok   org {report.org_id}: {chain.checked} {noun} verified, " + ", ".join(extra)


def describe(reports: list[OrgReport], noun: str) -> tuple[list[str], bool]:
    """Operator-facing lines for the reports (each finding on its own line: kind, table, id, detail; then a
    summary), and whether everything verified."""
    if not reports:
        return [f"no {noun} to verify"], True
    lines = []
    for report in reports:
        lines.append(_headline(report, noun))
        lines += [f"     {f.kind} {f.table} {f.id}: {f.detail}" for f in report.findings]
        lines += [f"     note: {note}" for note in report.notes]
    bad = [report for report in reports if not report.ok]
    findings = sum(len(report.findings) + (0 if report.chain.ok else 1) for report in bad)
    lines.append(f"{len(reports)} orgs verified: {len(reports) - len(bad)} ok, {len(bad)} bad, {findings} findings")
    return lines, not bad

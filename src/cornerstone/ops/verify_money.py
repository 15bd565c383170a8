"""The money half of ``cornerstone kernel verify``: every money row against the events that wrote it, then the
books against themselves.

Coverage. The event log is hash-chained and its head signed (``kit.hashchain``), so what an event's payload
says is as good as the chain. Every money row is held against the events of its writes:

- ``commitments``: each row against its ``commitment.added`` event (id, fund, investor, amount);
- ``capital_calls``: amount and fund against ``capital_call.created``, ``paid`` against the sum of its
  ``capital_call.payment_recorded`` events, status against the last event of the call;
- ``capital_call_allocations``: the shares' amounts against the digest ``capital_call.created`` pinned
  (``allocations_sha256``), ``paid`` against the payment events for that investor (the row legitimately
  changes later; each change is an event);
- ``ledger_entries``: a contribution against its payment event (id, investor, amount, date, call; and the
  full row hash ``ledger_entry_sha256`` where the event carries it); a distribution payment against the
  distribution's share for that investor and the digest ``distribution.paid`` pinned (``ledger_entries_sha256``);
- ``distributions`` and ``distribution_allocations``: amount, carry and tiers against ``distribution.created``,
  the shares against its digest.

A share set pinned by one digest names its bad row where it can: one edited share moves the set's sum by the
same amount it moved the row, so the row whose amount minus that difference restores the pinned digest is the
edited one (tried for sets up to ``SINGLE_OUT_LIMIT`` rows); a paid distribution's ledger entries are a second
copy of its shares. Otherwise the set is named (``<parent id>/*``). Rows written before an event pinned them
are still covered by the fields older events carry (every payment event has always carried the entry's id,
investor, amount and date), so there is no legacy gap: nothing is back-filled.

Reconciliation, on the rows as stored: allocations sum to their call, paid never above allocated, a call's
paid is the sum of its shares' paid, contributed never above committed, shares plus carry equal the
distribution, and each investor's ledger equals the sum of its sources (contributions = what its shares of
the fund's calls say was paid; distributions = its shares of the fund's paid distributions).

Everything an org has is read into memory at once: fine for the thousands of rows an org holds today; a fund
with millions of ledger entries would want this streamed per fund.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.kernel.events.service import LEDGER_COVERED, allocations_digest, ledger_entry_sha256, money_row_sha256
from cornerstone.kernel.models import (
    CapitalCallAllocationRow,
    CapitalCallRow,
    CommitmentRow,
    DistributionAllocationRow,
    DistributionRow,
    EventRow,
    LedgerEntryRow,
)
from cornerstone.kit.hashchain import Finding

SINGLE_OUT_LIMIT = 2_000
"""Largest share set in which verify looks for the one edited row (the search hashes the set once per row)."""

MONEY_EVENTS = (
    "commitment.added",
    "capital_call.created",
    "capital_call.issued",
    "capital_call.cancelled",
    "capital_call.payment_recorded",
    "distribution.created",
    "distribution.approved",
    "distribution.paid",
    "distribution.cancelled",
)
CALL_STATUS_OF = {
    "capital_call.created": "draft",
    "capital_call.issued": "issued",
    "capital_call.cancelled": "cancelled",
}
TIERS = ("return_of_capital", "preferred_return", "catch_up", "split_lp", "split_gp")


@dataclass
class _Event:
    seq: int
    type: str
    subject_id: str
    payload: dict[str, Any]


@dataclass
class _Call:
    created: _Event | None = None
    status: tuple[int, str] | None = None  # (seq, status) of the newest event saying it
    payments: list[_Event] = field(default_factory=list)


@dataclass
class _Distribution:
    created: _Event | None = None
    status: tuple[int, str] | None = None
    paid: _Event | None = None


async def _rows(session: AsyncSession, model: Any, org_id: str) -> list[Any]:
    return list((await session.execute(select(model).where(model.org_id == org_id))).scalars())


async def _money_events(session: AsyncSession, org_id: str) -> list[_Event]:
    statement = (
        select(EventRow.seq, EventRow.type, EventRow.subject_id, EventRow.payload)
        .where(EventRow.org_id == org_id, EventRow.type.in_(MONEY_EVENTS))
        .order_by(EventRow.seq)
    )
    return [
        _Event(seq, kind, subject, json.loads(payload))
        for seq, kind, subject, payload in await session.execute(statement)
    ]


def _differs(table: str, row_id: str, event: _Event, pairs: Iterable[tuple[str, Any, Any]]) -> list[Finding]:
    """One finding per field whose stored value is not what the event recorded."""
    return [
        Finding(
            "money", table, row_id, f"{name} {stored!r}, but event seq {event.seq} ({event.type}) recorded {recorded!r}"
        )
        for name, stored, recorded in pairs
        if stored != recorded
    ]


def _single_out(shares: Mapping[str, int], expected_sum: int, pinned: str) -> tuple[str, int] | None:
    """The one share whose amount, put back by the set's excess over ``expected_sum``, restores the ``pinned``
    digest: ``(investor, original amount)``; ``None`` when no single share does (or the set is too large)."""
    excess = sum(shares.values()) - expected_sum
    if excess == 0 or len(shares) > SINGLE_OUT_LIMIT:
        return None
    for investor, amount in shares.items():
        if allocations_digest({**shares, investor: amount - excess}) == pinned:
            return investor, amount - excess
    return None


@dataclass
class MoneyCheck:
    """The money rows and money events of one org, and what holding them against each other found."""

    org_id: str
    findings: list[Finding] = field(default_factory=list)
    rows_checked: int = 0

    def add(self, kind: str, table: str, row_id: str, detail: str) -> None:
        self.findings.append(Finding(kind, table, row_id, detail))


async def verify_money(session: AsyncSession, org_id: str) -> MoneyCheck:
    """Coverage and reconciliation findings for one org's money (module docstring)."""
    check = MoneyCheck(org_id)
    commitment_events: dict[str, _Event] = {}
    calls: dict[str, _Call] = defaultdict(_Call)
    distributions: dict[str, _Distribution] = defaultdict(_Distribution)
    for event in await _money_events(session, org_id):
        if event.type == "commitment.added":
            commitment_events[str(event.payload.get("id"))] = event
        elif event.type.startswith("capital_call."):
            call = calls[event.subject_id]
            if event.type == "capital_call.created":
                call.created = event
            if event.type == "capital_call.payment_recorded":
                call.payments.append(event)
                call.status = (event.seq, str(event.payload.get("status")))
            else:
                call.status = (event.seq, CALL_STATUS_OF[event.type])
        else:
            distribution = distributions[event.subject_id]
            if event.type == "distribution.created":
                distribution.created = event
                distribution.status = (event.seq, "draft")
            else:
                distribution.status = (event.seq, str(event.payload.get("status")))
            if event.type == "distribution.paid":
                distribution.paid = event

    commitments = await _rows(session, CommitmentRow, org_id)
    call_rows = await _rows(session, CapitalCallRow, org_id)
    call_shares = await _rows(session, CapitalCallAllocationRow, org_id)
    distribution_rows = await _rows(session, DistributionRow, org_id)
    distribution_shares = await _rows(session, DistributionAllocationRow, org_id)
    ledger = await _rows(session, LedgerEntryRow, org_id)
    check.rows_checked = sum(
        map(len, (commitments, call_rows, call_shares, distribution_rows, distribution_shares, ledger))
    )

    _check_commitments(check, commitments, commitment_events)
    _check_calls(check, call_rows, call_shares, calls)
    _check_distributions(check, distribution_rows, distribution_shares, distributions)
    _check_ledger(check, ledger, calls, call_rows, distribution_shares, distributions)
    _reconcile(check, commitments, call_rows, call_shares, distribution_rows, distribution_shares, ledger)
    return check


def _check_commitments(check: MoneyCheck, rows: list[CommitmentRow], events: dict[str, _Event]) -> None:
    for row in rows:
        event = events.pop(row.id, None)
        if event is None:
            check.add("uncovered", "commitments", row.id, f"amount {row.amount}: no commitment.added event records it")
            continue
        recorded = event.payload
        check.findings += _differs(
            "commitments",
            row.id,
            event,
            [
                ("amount", row.amount, recorded.get("amount")),
                ("investor_id", row.investor_id, recorded.get("investor_id")),
                ("fund_id", row.fund_id, recorded.get("fund_id")),
            ],
        )
    for commitment_id, event in events.items():
        check.add("missing", "commitments", commitment_id, f"event seq {event.seq} recorded it; the row is gone")


def _check_calls(
    check: MoneyCheck, rows: list[CapitalCallRow], shares: list[CapitalCallAllocationRow], calls: dict[str, _Call]
) -> None:
    shares_of: dict[str, dict[str, CapitalCallAllocationRow]] = defaultdict(dict)
    for share in shares:
        shares_of[share.call_id][share.investor_id] = share
    seen = set()
    for row in rows:
        seen.add(row.id)
        call = calls.get(row.id)
        if call is None or call.created is None:
            check.add("uncovered", "capital_calls", row.id, f"amount {row.amount}: no capital_call.created event")
            continue
        created = call.created
        paid_events = sum(int(event.payload.get("amount", 0)) for event in call.payments)
        check.findings += _differs(
            "capital_calls",
            row.id,
            created,
            [
                ("amount", row.amount, created.payload.get("amount")),
                ("fund_id", row.fund_id, created.payload.get("fund_id")),
            ],
        )
        if row.paid != paid_events:
            check.add(
                "money",
                "capital_calls",
                row.id,
                f"paid {row.paid}, but its {len(call.payments)} payment event(s) sum to {paid_events}",
            )
        if call.status is not None and row.status != call.status[1]:
            check.add(
                "money",
                "capital_calls",
                row.id,
                f"status {row.status!r}, but event seq {call.status[0]} left it {call.status[1]!r}",
            )
        _check_call_shares(check, row.id, created, shares_of.pop(row.id, {}), call.payments)
    for call_id, call in calls.items():
        if call_id not in seen and call.created is not None:
            check.add("missing", "capital_calls", call_id, f"event seq {call.created.seq} recorded it; the row is gone")
    for call_id, orphans in shares_of.items():
        for investor_id, share in orphans.items():
            check.add(
                "uncovered",
                "capital_call_allocations",
                f"{call_id}/{investor_id}",
                f"amount {share.amount}: its call has no row",
            )


def _check_call_shares(
    check: MoneyCheck,
    call_id: str,
    created: _Event,
    shares: dict[str, CapitalCallAllocationRow],
    payments: list[_Event],
) -> None:
    table = "capital_call_allocations"
    amounts = {investor: share.amount for investor, share in shares.items()}
    pinned = created.payload.get("allocations_sha256")
    if pinned is not None and allocations_digest(amounts) != pinned:
        culprit = _single_out(amounts, int(created.payload.get("amount", 0)), str(pinned))
        if culprit is not None:
            investor, original = culprit
            check.add(
                "money",
                table,
                f"{call_id}/{investor}",
                f"amount {amounts[investor]}, but event seq {created.seq} (capital_call.created) pinned {original}",
            )
        else:
            check.add(
                "money",
                table,
                f"{call_id}/*",
                f"the {len(amounts)} shares do not match the digest event seq {created.seq} pinned "
                f"({created.payload.get('investors')} shares)",
            )
    paid_by: dict[str, int] = defaultdict(int)
    for event in payments:
        paid_by[str(event.payload.get("investor_id"))] += int(event.payload.get("amount", 0))
    for investor, share in shares.items():
        if share.paid != paid_by.get(investor, 0):
            check.add(
                "money",
                table,
                f"{call_id}/{investor}",
                f"paid {share.paid}, but the payment events for this investor sum to {paid_by.get(investor, 0)}",
            )
    for investor in paid_by.keys() - shares.keys():
        check.add(
            "missing",
            table,
            f"{call_id}/{investor}",
            f"payment events record {paid_by[investor]} paid; the row is gone",
        )


def _check_distributions(
    check: MoneyCheck,
    rows: list[DistributionRow],
    shares: list[DistributionAllocationRow],
    distributions: dict[str, _Distribution],
) -> None:
    shares_of: dict[str, dict[str, int]] = defaultdict(dict)
    for share in shares:
        shares_of[share.distribution_id][share.investor_id] = share.amount
    seen = set()
    for row in rows:
        seen.add(row.id)
        distribution = distributions.get(row.id)
        if distribution is None or distribution.created is None:
            check.add("uncovered", "distributions", row.id, f"amount {row.amount}: no distribution.created event")
            continue
        created = distribution.created
        recorded_tiers = created.payload.get("tiers") or {}
        check.findings += _differs(
            "distributions",
            row.id,
            created,
            [
                ("amount", row.amount, created.payload.get("amount")),
                ("fund_id", row.fund_id, created.payload.get("fund_id")),
                ("carried_interest", row.carried_interest, created.payload.get("carried_interest")),
                *((tier, getattr(row, tier), recorded_tiers.get(tier)) for tier in TIERS),
            ],
        )
        if distribution.status is not None and row.status != distribution.status[1]:
            check.add(
                "money",
                "distributions",
                row.id,
                f"status {row.status!r}, but event seq {distribution.status[0]} left it {distribution.status[1]!r}",
            )
        amounts = shares_of.get(row.id, {})
        pinned = created.payload.get("allocations_sha256")
        if pinned is not None and allocations_digest(amounts) != pinned:
            expected = int(created.payload.get("amount", 0)) - int(created.payload.get("carried_interest", 0))
            culprit = _single_out(amounts, expected, str(pinned))
            if culprit is not None:
                investor, original = culprit
                check.add(
                    "money",
                    "distribution_allocations",
                    f"{row.id}/{investor}",
                    f"amount {amounts[investor]}, but event seq {created.seq} (distribution.created) pinned {original}",
                )
            else:
                check.add(
                    "money",
                    "distribution_allocations",
                    f"{row.id}/*",
                    f"the {len(amounts)} shares do not match the digest event seq {created.seq} pinned",
                )
    for distribution_id, distribution in distributions.items():
        if distribution_id not in seen and distribution.created is not None:
            check.add(
                "missing",
                "distributions",
                distribution_id,
                f"event seq {distribution.created.seq} recorded it; the row is gone",
            )


def _check_ledger(
    check: MoneyCheck,
    entries: list[LedgerEntryRow],
    calls: dict[str, _Call],
    call_rows: list[CapitalCallRow],
    distribution_shares: list[DistributionAllocationRow],
    distributions: dict[str, _Distribution],
) -> None:
    table = "ledger_entries"
    payment_of = {
        str(event.payload.get("ledger_entry_id")): event for call in calls.values() for event in call.payments
    }
    fund_of_call = {call_id: call.created.payload.get("fund_id") for call_id, call in calls.items() if call.created}
    fund_of_call.update({row.id: fund_of_call.get(row.id, row.fund_id) for row in call_rows})
    share_of = {(share.distribution_id, share.investor_id): share.amount for share in distribution_shares}
    paid_entries: dict[str, dict[str, str]] = defaultdict(dict)
    named: set[str] = set()  # distributions one of whose entries (or shares) is already named
    for entry in entries:
        if entry.kind == "contribution" and entry.source_type == "capital_call":
            event = payment_of.pop(entry.id, None)
            if event is None:
                check.add("uncovered", table, entry.id, f"contribution of {entry.amount}: no payment event records it")
                continue
            recorded = event.payload
            found = _differs(
                table,
                entry.id,
                event,
                [
                    ("amount", entry.amount, recorded.get("amount")),
                    ("investor_id", entry.investor_id, recorded.get("investor_id")),
                    ("on", entry.on.isoformat(), recorded.get("received_at")),
                    ("source_id", entry.source_id, event.subject_id),
                    ("fund_id", entry.fund_id, fund_of_call.get(event.subject_id)),
                ],
            )
            pinned = recorded.get("ledger_entry_sha256")
            if not found and pinned is not None and _entry_sha256(entry) != pinned:
                found = [Finding("money", table, entry.id, f"the row does not hash as event seq {event.seq} pinned it")]
            check.findings += found
        elif entry.kind == "distribution" and entry.source_type == "distribution":
            distribution = distributions.get(entry.source_id)
            if distribution is None or distribution.paid is None:
                check.add(
                    "uncovered", table, entry.id, f"distribution of {entry.amount}: its distribution was never paid"
                )
                continue
            share = share_of.get((entry.source_id, entry.investor_id))
            if share is None:
                named.add(entry.source_id)
                check.add(
                    "uncovered", table, entry.id, f"distribution of {entry.amount}: the investor has no share of it"
                )
            elif share != entry.amount:
                named.add(entry.source_id)
                if _share_is_named(check, entry.source_id, entry.investor_id):
                    continue
                check.add(
                    "money",
                    table,
                    entry.id,
                    f"amount {entry.amount}, but the investor's share of distribution {entry.source_id} is {share}",
                )
            paid_entries[entry.source_id][entry.id] = _entry_sha256(entry)
        else:
            check.add(
                "uncovered",
                table,
                entry.id,
                f"{entry.kind} of {entry.amount} from {entry.source_type}: no event writes these",
            )
    for entry_id, event in payment_of.items():
        check.add("missing", table, entry_id, f"event seq {event.seq} recorded this contribution; the row is gone")
    for distribution_id, distribution in distributions.items():
        paid = distribution.paid
        if paid is None or "ledger_entries_sha256" not in paid.payload:
            continue
        hashes = paid_entries.get(distribution_id, {})
        if distribution_id not in named and money_row_sha256(hashes) != paid.payload["ledger_entries_sha256"]:
            check.add(
                "money",
                table,
                f"{distribution_id}/*",
                f"the {len(hashes)} entries paying distribution {distribution_id} do not match the digest "
                f"event seq {paid.seq} pinned ({paid.payload.get('ledger_entries')} entries)",
            )


def _share_is_named(check: MoneyCheck, distribution_id: str, investor_id: str) -> bool:
    """Whether the share itself was already named as edited (its entry then shows the true figure)."""
    return any(
        finding.table == "distribution_allocations" and finding.id == f"{distribution_id}/{investor_id}"
        for finding in check.findings
    )


def _entry_sha256(entry: LedgerEntryRow) -> str:
    return ledger_entry_sha256({name: getattr(entry, name) for name in LEDGER_COVERED})


def _reconcile(
    check: MoneyCheck,
    commitments: list[CommitmentRow],
    calls: list[CapitalCallRow],
    call_shares: list[CapitalCallAllocationRow],
    distributions: list[DistributionRow],
    distribution_shares: list[DistributionAllocationRow],
    ledger: list[LedgerEntryRow],
) -> None:
    kind = "reconciliation"
    shares_by_call: dict[str, list[CapitalCallAllocationRow]] = defaultdict(list)
    for share in call_shares:
        shares_by_call[share.call_id].append(share)
        if not 0 <= share.paid <= share.amount:
            check.add(
                kind,
                "capital_call_allocations",
                f"{share.call_id}/{share.investor_id}",
                f"paid {share.paid} of an allocation of {share.amount}",
            )
    fund_of_call = {call.id: call.fund_id for call in calls}
    for call in calls:
        shares = shares_by_call.get(call.id, [])
        allocated, paid = sum(s.amount for s in shares), sum(s.paid for s in shares)
        if allocated != call.amount:
            check.add(kind, "capital_calls", call.id, f"allocations sum to {allocated}, the call is for {call.amount}")
        if paid != call.paid:
            check.add(kind, "capital_calls", call.id, f"paid {call.paid}, its allocations' paid sum to {paid}")
    shares_by_distribution: dict[str, int] = defaultdict(int)
    for dshare in distribution_shares:
        shares_by_distribution[dshare.distribution_id] += dshare.amount
    paid_distributions = {d.id: d.fund_id for d in distributions if d.status == "paid"}
    for distribution in distributions:
        shares_total = shares_by_distribution.get(distribution.id, 0)
        if shares_total + distribution.carried_interest != distribution.amount:
            check.add(
                kind,
                "distributions",
                distribution.id,
                f"shares {shares_total} plus carry {distribution.carried_interest} make "
                f"{shares_total + distribution.carried_interest}, the distribution is {distribution.amount}",
            )
    committed: dict[tuple[str, str], int] = defaultdict(int)
    for commitment in commitments:
        committed[(commitment.fund_id, commitment.investor_id)] += commitment.amount
    sources_in: dict[tuple[str, str], int] = defaultdict(int)
    for share in call_shares:
        if share.call_id in fund_of_call:
            sources_in[(fund_of_call[share.call_id], share.investor_id)] += share.paid
    sources_out: dict[tuple[str, str], int] = defaultdict(int)
    for dshare in distribution_shares:
        if dshare.distribution_id in paid_distributions:
            sources_out[(paid_distributions[dshare.distribution_id], dshare.investor_id)] += dshare.amount
    contributed: dict[tuple[str, str], int] = defaultdict(int)
    distributed: dict[tuple[str, str], int] = defaultdict(int)
    for entry in ledger:
        (contributed if entry.kind == "contribution" else distributed)[(entry.fund_id, entry.investor_id)] += (
            entry.amount
        )
    for account in sorted(contributed.keys() | committed.keys()):
        fund_id, investor_id = account
        if contributed[account] > committed[account]:
            check.add(
                kind,
                "ledger_entries",
                f"{fund_id}/{investor_id}",
                f"contributed {contributed[account]}, more than the {committed[account]} committed",
            )
    for account in sorted(contributed.keys() | sources_in.keys()):
        if contributed[account] != sources_in[account]:
            check.add(
                kind,
                "ledger_entries",
                "/".join(account),
                f"contributions sum to {contributed[account]}, its call allocations say {sources_in[account]} was paid",
            )
    for account in sorted(distributed.keys() | sources_out.keys()):
        if distributed[account] != sources_out[account]:
            check.add(
                kind,
                "ledger_entries",
                "/".join(account),
                f"distributions sum to {distributed[account]}, "
                f"its shares of paid distributions to {sources_out[account]}",
            )

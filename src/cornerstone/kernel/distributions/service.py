"""Distribution use cases: draft -> approved -> paid, or cancelled.

The split is computed when the distribution is created, from the fund's contributions in the
ledger and its earlier approved or paid distributions (``waterfall.py`` holds the arithmetic
and its rounding rules). Approval must come from someone other than the creator (maker-checker),
and re-computes the split: if the basis changed since the draft (a payment, another
distribution approved), the draft is stale and must be recreated. Paying writes one ledger
entry per investor; the GP's carried interest is recorded on the distribution.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal, cast

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.funds import (
    Distribution,
    DistributionAllocation,
    DistributionCreate,
    DistributionKind,
    DistributionMethod,
    DistributionPage,
    DistributionPreview,
    DistributionStatus,
    DistributionTiers,
)
from cornerstone.kernel.distributions.waterfall import (
    Contribution,
    DistributionResult,
    PriorDistribution,
    WaterfallTerms,
    pro_rata_distribution,
    waterfall_distribution,
)
from cornerstone.kernel.events.service import (
    allocations_digest,
    append_event,
    ledger_entry_sha256,
    money_row_sha256,
)
from cornerstone.kernel.funds.service import ROWS_AT_A_TIME, lock_fund, read_fund, share_in_org
from cornerstone.kernel.models import DistributionAllocationRow, DistributionRow, FundRow, LedgerEntryRow
from cornerstone.kernel.models.base import table_of
from cornerstone.kernel.money_operations import SharesAnswer, insert_shares
from cornerstone.kernel.paging import keyset_page
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.ids import new_id
from cornerstone.kit.problems import Conflict, NotFound
from cornerstone.kit.request_context import current_request_id
from cornerstone.kit.service_auth import ServiceCaller

COUNTED = (DistributionStatus.APPROVED.value, DistributionStatus.PAID.value)


class DistributionNotFound(NotFound):
    """No distribution with this id in the caller's org."""

    code = "DISTRIBUTION_NOT_FOUND"
    title = "Distribution not found"

    def __init__(self) -> None:
        super().__init__("No distribution with this id.")


class DistributionStateConflict(Conflict):
    """The distribution's status does not allow this (only a draft is approved, only an approved one is paid; a paid
    one, or one with a later approved distribution on top, is not cancelled)."""

    code = "DISTRIBUTION_STATE_CONFLICT"
    title = "Not possible in the distribution's status"


class FourEyesRequired(Conflict):
    """The person who created a distribution cannot approve it: a second person must."""

    code = "FOUR_EYES_REQUIRED"
    title = "A second person must approve"


class DistributionOutOfOrder(Conflict):
    """An approved distribution is dated after this one: distributions are computed in date order."""

    code = "DISTRIBUTION_OUT_OF_ORDER"
    title = "Distribution dated before an earlier one"


class NothingContributed(Conflict):
    """Nothing had been contributed to the fund by the distribution's date: there is no one to pay."""

    code = "NOTHING_CONTRIBUTED"
    title = "No capital contributed"


class DistributionStale(Conflict):
    """Contributions or distributions changed since this draft was computed: cancel it and create it again."""

    code = "DISTRIBUTION_STALE"
    title = "Distribution computed on an outdated basis"


def terms_of(fund: FundRow) -> WaterfallTerms:
    return WaterfallTerms(
        pref_rate=Decimal(fund.pref_rate),
        pref_compounding=cast(Literal["annual", "simple"], fund.pref_compounding),
        catch_up_rate=Decimal(fund.catch_up_rate),
        carry_rate=Decimal(fund.carry_rate),
    )


async def contributions_of(session: AsyncSession, caller: ServiceCaller, fund_id: str) -> list[Contribution]:
    statement = (
        select(LedgerEntryRow.investor_id, LedgerEntryRow.on, LedgerEntryRow.amount)
        .where(
            LedgerEntryRow.org_id == caller.org_id,
            LedgerEntryRow.fund_id == fund_id,
            LedgerEntryRow.kind == "contribution",
        )
        .order_by(LedgerEntryRow.on, LedgerEntryRow.created_at, LedgerEntryRow.id)
    )
    result = await (await session.connection()).execute(statement)
    return [
        Contribution(investor_id, on, amount)
        for rows in result.partitions(ROWS_AT_A_TIME)
        for investor_id, on, amount in rows
    ]


async def _allocations(session: AsyncSession, caller: ServiceCaller, distribution_id: str) -> list[dict[str, Any]]:
    """The shares as ``DistributionAllocation`` fields, in investor order (plain rows: one per investor)."""
    statement = (
        select(DistributionAllocationRow.investor_id, DistributionAllocationRow.amount)
        .where(
            share_in_org(DistributionAllocationRow.org_id, caller.org_id),
            DistributionAllocationRow.distribution_id == distribution_id,
        )
        .order_by(DistributionAllocationRow.investor_id)
    )
    result = await (await session.connection()).execute(statement)
    return [
        {"investor_id": investor_id, "amount": amount}
        for rows in result.partitions(ROWS_AT_A_TIME)
        for investor_id, amount in rows
    ]


async def prior_distributions(
    session: AsyncSession, caller: ServiceCaller, fund_id: str, *, excluding: str | None = None
) -> list[tuple[DistributionRow, PriorDistribution]]:
    """The fund's approved and paid distributions in date order, with what each paid to whom
    (two queries, whatever their number)."""
    counted = (
        DistributionRow.org_id == caller.org_id,
        DistributionRow.fund_id == fund_id,
        DistributionRow.status.in_(COUNTED),
    )
    rows = [
        row
        for row in (
            await session.execute(
                select(DistributionRow)
                .where(*counted)
                .order_by(DistributionRow.date, DistributionRow.created_at, DistributionRow.id)
            )
        ).scalars()
        if row.id != excluding
    ]
    paid: dict[str, dict[str, int]] = {row.id: {} for row in rows}
    shares = await (await session.connection()).execute(
        select(
            DistributionAllocationRow.distribution_id,
            DistributionAllocationRow.investor_id,
            DistributionAllocationRow.amount,
        )
        .select_from(DistributionRow)
        .join(DistributionAllocationRow, DistributionAllocationRow.distribution_id == DistributionRow.id)
        .where(*counted, share_in_org(DistributionAllocationRow.org_id, caller.org_id))
    )
    for batch in shares.partitions(ROWS_AT_A_TIME):
        for distribution_id, investor_id, amount in batch:
            if distribution_id in paid:
                paid[distribution_id][investor_id] = amount
    return [
        (row, PriorDistribution(on=row.date, lp_amounts=paid[row.id], gp_amount=row.carried_interest)) for row in rows
    ]


async def compute(
    session: AsyncSession,
    caller: ServiceCaller,
    fund: FundRow,
    *,
    amount: int,
    on: date,
    method: DistributionMethod,
    excluding: str | None = None,
) -> DistributionResult:
    """The split of ``amount`` on ``on`` given everything the fund has contributed and distributed."""
    prior = await prior_distributions(session, caller, fund.id, excluding=excluding)
    later = [row.date for row, _ in prior if row.date > on]
    if later:
        raise DistributionOutOfOrder(
            f"An approved distribution is dated {max(later).isoformat()}, after {on.isoformat()}: "
            "distributions are computed in date order."
        )
    contributions = await contributions_of(session, caller, fund.id)
    if not any(c.on <= on for c in contributions):
        raise NothingContributed("Nothing had been contributed to the fund by that date: there is no one to pay.")
    if method == DistributionMethod.PRO_RATA:
        return pro_rata_distribution(contributions, amount, on)
    return waterfall_distribution(terms_of(fund), contributions, [p for _, p in prior], amount, on)


def _answer(row: DistributionRow, allocations: list[dict[str, Any]]) -> SharesAnswer[Distribution]:
    """The distribution's answer; ``allocations`` as ``DistributionAllocation`` fields, in their order
    (``investor_id``, ``amount``)."""
    fields = {
        "id": row.id,
        "fund_id": row.fund_id,
        "amount": row.amount,
        "currency": row.currency,
        "date": row.date,
        "method": DistributionMethod(row.method),
        "kind": DistributionKind(row.kind),
        "status": DistributionStatus(row.status),
        "carried_interest": row.carried_interest,
        "tiers": DistributionTiers(
            return_of_capital=row.return_of_capital,
            preferred_return=row.preferred_return,
            catch_up=row.catch_up,
            split_lp=row.split_lp,
            split_gp=row.split_gp,
        ),
        "created_by": row.created_by,
        "approved_by": row.approved_by,
        "created_at": as_utc(row.created_at),
        "version": row.version,
    }
    return SharesAnswer(Distribution, fields, allocations)


async def to_answer(session: AsyncSession, caller: ServiceCaller, row: DistributionRow) -> SharesAnswer[Distribution]:
    return _answer(row, await _allocations(session, caller, row.id))


async def to_contract(session: AsyncSession, caller: ServiceCaller, row: DistributionRow) -> Distribution:
    return (await to_answer(session, caller, row)).contract()


async def load_distribution_answer(
    session: AsyncSession, caller: ServiceCaller, distribution_id: str
) -> SharesAnswer[Distribution]:
    return await to_answer(session, caller, await read_distribution(session, caller, distribution_id))


async def load_distribution(session: AsyncSession, caller: ServiceCaller, distribution_id: str) -> Distribution:
    return (await load_distribution_answer(session, caller, distribution_id)).contract()


async def read_distribution(session: AsyncSession, caller: ServiceCaller, distribution_id: str) -> DistributionRow:
    statement = select(DistributionRow).where(
        DistributionRow.org_id == caller.org_id, DistributionRow.id == distribution_id
    )
    row = (await session.execute(statement)).scalar_one_or_none()
    if row is None:
        raise DistributionNotFound()
    return row


def allocated_shares(result: DistributionResult) -> list[tuple[str, int]]:
    """The investors' shares as a distribution records them: in investor order, none of zero."""
    return [(investor, amount) for investor, amount in sorted(result.allocations.items()) if amount > 0]


async def preview_distribution(
    session: AsyncSession, caller: ServiceCaller, body: DistributionCreate
) -> DistributionPreview:
    """The figures ``create_distribution`` would store for ``body`` now (the same ``compute`` and the
    same refusals), storing nothing: no row, no event, no ledger entry."""
    fund = await read_fund(session, caller, body.fund_id)
    result = await compute(session, caller, fund, amount=body.amount, on=body.date, method=body.method)
    return DistributionPreview(
        fund_id=fund.id,
        amount=body.amount,
        currency=fund.currency,
        date=body.date,
        method=body.method,
        kind=body.kind,
        allocations=[
            DistributionAllocation(investor_id=investor, amount=amount) for investor, amount in allocated_shares(result)
        ],
        carried_interest=result.carried_interest,
        tiers=DistributionTiers(**result.tiers),
    )


async def create_distribution(session: AsyncSession, caller: ServiceCaller, body: DistributionCreate) -> Distribution:
    return (await create_distribution_answer(session, caller, body)).contract()


async def create_distribution_answer(
    session: AsyncSession, caller: ServiceCaller, body: DistributionCreate
) -> SharesAnswer[Distribution]:
    fund = await read_fund(session, caller, body.fund_id)
    await lock_fund(session, caller, fund.id)
    result = await compute(session, caller, fund, amount=body.amount, on=body.date, method=body.method)
    now = utcnow()
    row = DistributionRow(
        id=new_id(),
        org_id=caller.org_id,
        fund_id=fund.id,
        amount=body.amount,
        currency=fund.currency,
        date=body.date,
        method=body.method.value,
        kind=body.kind.value,
        status=DistributionStatus.DRAFT.value,
        carried_interest=result.carried_interest,
        version=1,
        created_by=caller.actor_id,
        approved_by=None,
        created_at=now,
        updated_at=now,
        **result.tiers,
    )
    allocated = allocated_shares(result)
    session.add(row)
    await session.flush()
    distribution_id, org_id = row.id, caller.org_id  # plain locals: an ORM attribute read per share adds up
    await insert_shares(
        session,
        table_of(DistributionAllocationRow),
        ("distribution_id", "investor_id", "org_id", "amount"),
        [(distribution_id, investor, org_id, amount) for investor, amount in allocated],
    )
    distribution = _answer(row, [{"investor_id": investor, "amount": amount} for investor, amount in allocated])
    await append_event(
        session,
        caller,
        type="distribution.created",
        subject_type="distribution",
        subject_id=row.id,
        payload={
            "fund_id": fund.id,
            "amount": row.amount,
            "date": row.date.isoformat(),
            "method": row.method,
            "carried_interest": row.carried_interest,
            "tiers": result.tiers,
            "investors": len(allocated),
            "allocations_sha256": allocations_digest(dict(allocated)),
        },
    )
    return distribution


async def _move(
    session: AsyncSession,
    caller: ServiceCaller,
    row: DistributionRow,
    status: DistributionStatus,
    event: str,
    pinned: dict[str, Any] | None = None,
) -> None:
    row.status = status.value
    row.version += 1
    row.updated_at = utcnow()
    await session.flush()
    payload = {"status": row.status, **(pinned or {})}
    await append_event(session, caller, type=event, subject_type="distribution", subject_id=row.id, payload=payload)


async def _transition(
    session: AsyncSession, caller: ServiceCaller, row: DistributionRow, status: DistributionStatus, event: str
) -> Distribution:
    await _move(session, caller, row, status, event)
    return await to_contract(session, caller, row)


async def approve_distribution(session: AsyncSession, caller: ServiceCaller, distribution_id: str) -> Distribution:
    row = await read_distribution(session, caller, distribution_id)
    fund = await read_fund(session, caller, row.fund_id)
    await lock_fund(session, caller, fund.id)
    await session.refresh(row, with_for_update=True)
    if row.status != DistributionStatus.DRAFT.value:
        raise DistributionStateConflict(f"Only a draft can be approved; this distribution is {row.status}.")
    if row.created_by == caller.actor_id:
        raise FourEyesRequired("The person who created a distribution cannot approve it.")
    result = await compute(
        session, caller, fund, amount=row.amount, on=row.date, method=DistributionMethod(row.method), excluding=row.id
    )
    stored = {share["investor_id"]: share["amount"] for share in await _allocations(session, caller, row.id)}
    fresh = {investor: amount for investor, amount in result.allocations.items() if amount > 0}
    if fresh != stored or result.carried_interest != row.carried_interest:
        raise DistributionStale(
            "Contributions or distributions changed since this draft was computed: cancel it and create it again."
        )
    row.approved_by = caller.actor_id
    return await _transition(session, caller, row, DistributionStatus.APPROVED, "distribution.approved")


async def pay_distribution(session: AsyncSession, caller: ServiceCaller, distribution_id: str) -> Distribution:
    return (await pay_distribution_answer(session, caller, distribution_id)).contract()


async def pay_distribution_answer(
    session: AsyncSession, caller: ServiceCaller, distribution_id: str
) -> SharesAnswer[Distribution]:
    row = await read_distribution(session, caller, distribution_id)
    await lock_fund(session, caller, row.fund_id)
    await session.refresh(row, with_for_update=True)
    if row.status != DistributionStatus.APPROVED.value:
        raise DistributionStateConflict(f"Only an approved distribution can be paid; this one is {row.status}.")
    now, request_id = utcnow(), current_request_id()
    entries = [
        {
            "id": new_id(),
            "org_id": caller.org_id,
            "fund_id": row.fund_id,
            "investor_id": share["investor_id"],
            "kind": "distribution",
            "amount": share["amount"],
            "on": row.date,
            "source_type": "distribution",
            "source_id": row.id,
            "request_id": request_id,
            "created_at": now,
        }
        for share in await _allocations(session, caller, row.id)
    ]
    await session.execute(insert(table_of(LedgerEntryRow)), entries)
    # The event pins the entries it wrote (one per investor) by one digest of their hashes.
    pinned = {
        "ledger_entries": len(entries),
        "ledger_entries_sha256": money_row_sha256({entry["id"]: ledger_entry_sha256(entry) for entry in entries}),
    }
    await _move(session, caller, row, DistributionStatus.PAID, "distribution.paid", pinned)
    return await to_answer(session, caller, row)


async def cancel_distribution(session: AsyncSession, caller: ServiceCaller, distribution_id: str) -> Distribution:
    row = await read_distribution(session, caller, distribution_id)
    await session.refresh(row, with_for_update=True)
    if row.status not in {DistributionStatus.DRAFT.value, DistributionStatus.APPROVED.value}:
        raise DistributionStateConflict(f"A {row.status} distribution cannot be cancelled.")
    if row.status == DistributionStatus.APPROVED.value:
        await lock_fund(session, caller, row.fund_id)
        prior = await prior_distributions(session, caller, row.fund_id)
        if prior and prior[-1][0].id != row.id:
            # Later distributions were computed on top of this one: it is part of their basis.
            raise DistributionStateConflict("A later distribution was approved on top of this one.")
    return await _transition(session, caller, row, DistributionStatus.CANCELLED, "distribution.cancelled")


async def list_distributions(
    session: AsyncSession, caller: ServiceCaller, *, fund_id: str | None, limit: int, cursor: str | None
) -> DistributionPage:
    statement = select(DistributionRow).where(DistributionRow.org_id == caller.org_id)
    if fund_id is not None:
        statement = statement.where(DistributionRow.fund_id == fund_id)
    rows, next_cursor = await keyset_page(session, statement, DistributionRow, limit=limit, cursor=cursor)
    return DistributionPage(items=[await to_contract(session, caller, row) for row in rows], next_cursor=next_cursor)

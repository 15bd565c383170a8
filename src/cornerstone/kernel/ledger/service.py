"""Capital accounts, the LP portfolio and statements, derived from commitments and the ledger.

Nothing here is stored: every figure is recomputed from the append-only ledger entries (money
that moved), the commitment entries and the fund's NAV marks, so it cannot drift from them.

- unfunded = committed - contributed.
- NAV share: the latest mark on or before the date, split over the fund's investors pro rata to
  what each had contributed by the mark's date (largest remainder, ``kit.money.allocate``).
- IRR: XIRR of the investor's flows (contributions negative, distributions positive) with the
  NAV share as a final inflow on the mark's date; null where it is not defined.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.funds import (
    CapitalAccount,
    CapitalCallStatus,
    DistributionStatus,
    InvestorCapitalCall,
    InvestorCapitalCallPage,
    InvestorDistribution,
    InvestorDistributionPage,
    LedgerEntry,
    LedgerEntryKind,
    Portfolio,
    Statement,
)
from cornerstone.kernel.funds.service import latest_valuation, read_fund
from cornerstone.kernel.investors.service import read_investor
from cornerstone.kernel.ledger.returns import CashFlow, ratio, xirr
from cornerstone.kernel.models import (
    CapitalCallAllocationRow,
    CapitalCallRow,
    CommitmentRow,
    DistributionAllocationRow,
    DistributionRow,
    FundRow,
    LedgerEntryRow,
)
from cornerstone.kernel.paging import keyset_page_rows
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.money import allocate
from cornerstone.kit.service_auth import ServiceCaller


def _entry(row: LedgerEntryRow) -> LedgerEntry:
    return LedgerEntry(
        id=row.id,
        fund_id=row.fund_id,
        investor_id=row.investor_id,
        kind=LedgerEntryKind(row.kind),
        amount=row.amount,
        on=row.on,
        source_type=row.source_type,
        source_id=row.source_id,
        created_at=as_utc(row.created_at),
    )


async def _entries(
    session: AsyncSession, caller: ServiceCaller, fund_id: str, investor_id: str, as_of: date
) -> list[LedgerEntryRow]:
    statement = (
        select(LedgerEntryRow)
        .where(
            LedgerEntryRow.org_id == caller.org_id,
            LedgerEntryRow.fund_id == fund_id,
            LedgerEntryRow.investor_id == investor_id,
            LedgerEntryRow.on <= as_of,
        )
        .order_by(LedgerEntryRow.on, LedgerEntryRow.created_at, LedgerEntryRow.id)
    )
    return list((await session.execute(statement)).scalars())


async def _nav_share(
    session: AsyncSession, caller: ServiceCaller, fund_id: str, investor_id: str, as_of: date
) -> tuple[int | None, date | None]:
    mark = await latest_valuation(session, caller, fund_id, as_of=as_of)
    if mark is None:
        return None, None
    contributed = (
        await session.execute(
            select(LedgerEntryRow.investor_id, func.sum(LedgerEntryRow.amount))
            .where(
                LedgerEntryRow.org_id == caller.org_id,
                LedgerEntryRow.fund_id == fund_id,
                LedgerEntryRow.kind == "contribution",
                LedgerEntryRow.on <= mark.as_of,
            )
            .group_by(LedgerEntryRow.investor_id)
        )
    ).all()
    weights = {investor: int(total) for investor, total in contributed}
    if not any(weights.values()):
        return 0, mark.as_of
    return allocate(mark.nav, weights).get(investor_id, 0), mark.as_of


async def capital_account(
    session: AsyncSession, caller: ServiceCaller, fund: FundRow, investor_id: str, *, as_of: date | None = None
) -> tuple[CapitalAccount, list[LedgerEntryRow]]:
    as_of = as_of or utcnow().date()
    committed = (
        await session.execute(
            select(func.coalesce(func.sum(CommitmentRow.amount), 0)).where(
                CommitmentRow.org_id == caller.org_id,
                CommitmentRow.fund_id == fund.id,
                CommitmentRow.investor_id == investor_id,
            )
        )
    ).scalar_one()
    entries = await _entries(session, caller, fund.id, investor_id, as_of)
    totals: dict[str, int] = defaultdict(int)
    flows = []
    for entry in entries:
        totals[entry.kind] += entry.amount
        sign = -1 if entry.kind == LedgerEntryKind.CONTRIBUTION.value else 1
        flows.append(CashFlow(on=entry.on, amount=sign * entry.amount))
    contributed, distributed = totals[LedgerEntryKind.CONTRIBUTION.value], totals[LedgerEntryKind.DISTRIBUTION.value]
    nav, nav_as_of = await _nav_share(session, caller, fund.id, investor_id, as_of)
    if nav and nav_as_of is not None:
        flows.append(CashFlow(on=nav_as_of, amount=nav))
    irr = xirr(flows)
    account = CapitalAccount(
        fund_id=fund.id,
        fund_name=fund.name,
        investor_id=investor_id,
        currency=fund.currency,
        committed=int(committed),
        contributed=contributed,
        unfunded=int(committed) - contributed,
        distributed=distributed,
        nav=nav,
        nav_as_of=nav_as_of,
        dpi=ratio(distributed, contributed),
        rvpi=ratio(nav, contributed) if nav is not None else None,
        tvpi=ratio(distributed + nav, contributed) if nav is not None else ratio(distributed, contributed),
        irr=irr,
    )
    return account, entries


async def portfolio(session: AsyncSession, caller: ServiceCaller, investor_id: str) -> Portfolio:
    investor = await read_investor(session, caller, investor_id)
    fund_ids = (
        await session.execute(
            select(CommitmentRow.fund_id)
            .where(CommitmentRow.org_id == caller.org_id, CommitmentRow.investor_id == investor.id)
            .distinct()
        )
    ).scalars()
    accounts = []
    for fund_id in sorted(fund_ids):
        fund = await read_fund(session, caller, fund_id)
        accounts.append((await capital_account(session, caller, fund, investor.id))[0])
    return Portfolio(investor_id=investor.id, funds=accounts)


# What an investor is shown: a call once issued (a draft is the GP's own work, not yet a demand), a
# distribution once approved (decided; paid follows).
INVESTOR_VISIBLE_CALLS = (CapitalCallStatus.ISSUED, CapitalCallStatus.PARTIALLY_FUNDED, CapitalCallStatus.FUNDED)
INVESTOR_VISIBLE_DISTRIBUTIONS = (DistributionStatus.APPROVED, DistributionStatus.PAID)


async def investor_capital_calls(
    session: AsyncSession, caller: ServiceCaller, investor_id: str, *, limit: int, cursor: str | None
) -> InvestorCapitalCallPage:
    """The calls that have an allocation to the investor, newest first, each with that allocation only."""
    investor = await read_investor(session, caller, investor_id)
    statement = (
        select(CapitalCallRow, CapitalCallAllocationRow.amount, CapitalCallAllocationRow.paid)
        .join(
            CapitalCallAllocationRow,
            (CapitalCallAllocationRow.call_id == CapitalCallRow.id)
            & (CapitalCallAllocationRow.org_id == CapitalCallRow.org_id),
        )
        .where(
            CapitalCallRow.org_id == caller.org_id,
            CapitalCallAllocationRow.investor_id == investor.id,
            CapitalCallRow.status.in_([status.value for status in INVESTOR_VISIBLE_CALLS]),
        )
    )
    rows, next_cursor = await keyset_page_rows(session, statement, CapitalCallRow, limit=limit, cursor=cursor)
    items = [
        InvestorCapitalCall(
            id=call.id,
            fund_id=call.fund_id,
            currency=call.currency,
            due_date=call.due_date,
            purpose=call.purpose,
            status=CapitalCallStatus(call.status),
            amount=amount,
            paid=paid,
            outstanding=amount - paid,
            created_at=as_utc(call.created_at),
        )
        for call, amount, paid in rows
    ]
    return InvestorCapitalCallPage(items=items, next_cursor=next_cursor)


async def investor_distributions(
    session: AsyncSession, caller: ServiceCaller, investor_id: str, *, limit: int, cursor: str | None
) -> InvestorDistributionPage:
    """The distributions that have a share for the investor, newest first, each with that share only."""
    investor = await read_investor(session, caller, investor_id)
    statement = (
        select(DistributionRow, DistributionAllocationRow.amount)
        .join(
            DistributionAllocationRow,
            (DistributionAllocationRow.distribution_id == DistributionRow.id)
            & (DistributionAllocationRow.org_id == DistributionRow.org_id),
        )
        .where(
            DistributionRow.org_id == caller.org_id,
            DistributionAllocationRow.investor_id == investor.id,
            DistributionRow.status.in_([status.value for status in INVESTOR_VISIBLE_DISTRIBUTIONS]),
        )
    )
    rows, next_cursor = await keyset_page_rows(session, statement, DistributionRow, limit=limit, cursor=cursor)
    items = [
        InvestorDistribution(
            id=distribution.id,
            fund_id=distribution.fund_id,
            currency=distribution.currency,
            date=distribution.date,
            kind=distribution.kind,
            status=DistributionStatus(distribution.status),
            amount=amount,
            created_at=as_utc(distribution.created_at),
        )
        for distribution, amount in rows
    ]
    return InvestorDistributionPage(items=items, next_cursor=next_cursor)


async def statement(
    session: AsyncSession, caller: ServiceCaller, investor_id: str, fund_id: str, as_of: date | None
) -> Statement:
    investor = await read_investor(session, caller, investor_id)
    fund = await read_fund(session, caller, fund_id)
    as_of = as_of or utcnow().date()
    account, entries = await capital_account(session, caller, fund, investor.id, as_of=as_of)
    return Statement(
        investor_id=investor.id, fund_id=fund.id, as_of=as_of, account=account, entries=[_entry(e) for e in entries]
    )

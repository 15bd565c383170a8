"""Fund use cases: create and read funds, record NAV marks, add commitments.

A fund's figures (committed, called, contributed, distributed, NAV, multiples) are derived
from commitments, capital calls, the ledger and the latest NAV mark on every read; nothing
editable holds them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, String, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from cornerstone.contracts.funds import (
    Commitment,
    CommitmentCreate,
    Compounding,
    Fund,
    FundCreate,
    FundFigures,
    FundPage,
    Valuation,
    ValuationCreate,
)
from cornerstone.kernel.events.service import append_event
from cornerstone.kernel.investors.service import read_investor
from cornerstone.kernel.ledger.returns import ratio
from cornerstone.kernel.models import (
    CapitalCallAllocationRow,
    CapitalCallRow,
    CommitmentRow,
    DistributionRow,
    FundRow,
    FundValuationRow,
    LedgerEntryRow,
)
from cornerstone.kernel.paging import keyset_page
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.hashchain import lock_chain
from cornerstone.kit.ids import new_id
from cornerstone.kit.problems import NotFound
from cornerstone.kit.service_auth import ServiceCaller

ROWS_AT_A_TIME = 1_000
"""How many result rows a per-investor read turns into row objects at a time: the rows are buffered anyway, and
short-lived row objects never reach the garbage collector's oldest generation (whose full collections walk every
object of the process) as a whole result of tens of thousands of them would."""


class _NotAnIndexKey(FunctionElement[str]):
    """A column as a plain value: ``+column`` on SQLite (which then does not look it up in an index), the
    column itself elsewhere."""

    type = String()
    name = "not_an_index_key"
    inherit_cache = True


@compiles(_NotAnIndexKey)
def _plain_column(element: _NotAnIndexKey, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_NotAnIndexKey, "sqlite")
def _sqlite_plain_column(element: _NotAnIndexKey, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


def share_in_org(column: Any, org_id: str) -> ColumnElement[bool]:
    """The org check on a share row (``*_allocations.org_id``) read through its parent's primary key.

    The share tables are indexed by ``(org_id, investor_id)`` for per-investor reads, and SQLite, without
    statistics, prefers that index for ``org_id = ? AND call_id = ?``: it then walks every share of the org
    (every call and distribution ever made, cancelled ones included) to find one parent's. Checked as a plain
    value, the org stays part of the statement and the lookup goes through the parent's key.
    """
    return _NotAnIndexKey(column) == org_id


class FundNotFound(NotFound):
    """No fund with this id in the caller's org."""

    code = "FUND_NOT_FOUND"
    title = "Fund not found"

    def __init__(self) -> None:
        super().__init__("No fund with this id.")


async def read_fund(session: AsyncSession, caller: ServiceCaller, fund_id: str) -> FundRow:
    row = (
        await session.execute(select(FundRow).where(FundRow.org_id == caller.org_id, FundRow.id == fund_id))
    ).scalar_one_or_none()
    if row is None:
        raise FundNotFound()
    return row


async def lock_fund(session: AsyncSession, caller: ServiceCaller, fund_id: str) -> None:
    """Serialize money writes on one fund until the transaction ends (see capital_calls.service)."""
    await lock_chain(session, "fund", f"{caller.org_id}:{fund_id}")


async def latest_valuation(
    session: AsyncSession, caller: ServiceCaller, fund_id: str, *, as_of: date | None = None
) -> FundValuationRow | None:
    """The fund's latest NAV mark (on or before ``as_of``, when given); a later entry wins a tie."""
    statement = select(FundValuationRow).where(
        FundValuationRow.org_id == caller.org_id, FundValuationRow.fund_id == fund_id
    )
    if as_of is not None:
        statement = statement.where(FundValuationRow.as_of <= as_of)
    statement = statement.order_by(
        FundValuationRow.as_of.desc(), FundValuationRow.created_at.desc(), FundValuationRow.id.desc()
    ).limit(1)
    return (await session.execute(statement)).scalar_one_or_none()


async def _sum(session: AsyncSession, column: Any, *conditions: ColumnElement[bool]) -> int:
    value = (await session.execute(select(func.coalesce(func.sum(column), 0)).where(*conditions))).scalar_one()
    return int(value)


async def figures(session: AsyncSession, caller: ServiceCaller, fund: FundRow) -> FundFigures:
    org, fund_id = caller.org_id, fund.id
    committed = await _sum(session, CommitmentRow.amount, CommitmentRow.org_id == org, CommitmentRow.fund_id == fund_id)
    called = await _sum(
        session,
        CapitalCallRow.amount,
        CapitalCallRow.org_id == org,
        CapitalCallRow.fund_id == fund_id,
        CapitalCallRow.status != "cancelled",
    )
    in_ledger = (LedgerEntryRow.org_id == org, LedgerEntryRow.fund_id == fund_id)
    contributed = await _sum(session, LedgerEntryRow.amount, *in_ledger, LedgerEntryRow.kind == "contribution")
    distributed = await _sum(session, LedgerEntryRow.amount, *in_ledger, LedgerEntryRow.kind == "distribution")
    carried_interest = await _sum(
        session,
        DistributionRow.carried_interest,
        DistributionRow.org_id == org,
        DistributionRow.fund_id == fund_id,
        DistributionRow.status == "paid",
    )
    mark = await latest_valuation(session, caller, fund_id)
    nav = mark.nav if mark else None
    return FundFigures(
        committed=committed,
        called=called,
        contributed=contributed,
        distributed=distributed,
        carried_interest=carried_interest,
        nav=nav,
        nav_as_of=mark.as_of if mark else None,
        dpi=ratio(distributed, contributed),
        rvpi=ratio(nav, contributed) if nav is not None else None,
        tvpi=ratio(distributed + nav, contributed) if nav is not None else None,
    )


async def to_contract(session: AsyncSession, caller: ServiceCaller, row: FundRow) -> Fund:
    return Fund(
        id=row.id,
        name=row.name,
        currency=row.currency,
        vintage=row.vintage,
        pref_rate=Decimal(row.pref_rate),
        pref_compounding=Compounding(row.pref_compounding),
        catch_up_rate=Decimal(row.catch_up_rate),
        carry_rate=Decimal(row.carry_rate),
        figures=await figures(session, caller, row),
        created_at=as_utc(row.created_at),
    )


async def create_fund(session: AsyncSession, caller: ServiceCaller, body: FundCreate) -> Fund:
    terms = body.model_dump(mode="json")
    row = FundRow(
        id=new_id(),
        org_id=caller.org_id,
        name=body.name,
        currency=body.currency,
        vintage=body.vintage,
        pref_rate=terms["pref_rate"],
        pref_compounding=terms["pref_compounding"],
        catch_up_rate=terms["catch_up_rate"],
        carry_rate=terms["carry_rate"],
        created_by=caller.actor_id,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    await append_event(session, caller, type="fund.created", subject_type="fund", subject_id=row.id, payload=terms)
    return await to_contract(session, caller, row)


async def list_funds(session: AsyncSession, caller: ServiceCaller, *, limit: int, cursor: str | None) -> FundPage:
    statement = select(FundRow).where(FundRow.org_id == caller.org_id)
    rows, next_cursor = await keyset_page(session, statement, FundRow, limit=limit, cursor=cursor)
    return FundPage(items=[await to_contract(session, caller, row) for row in rows], next_cursor=next_cursor)


async def add_valuation(session: AsyncSession, caller: ServiceCaller, fund_id: str, body: ValuationCreate) -> Valuation:
    fund = await read_fund(session, caller, fund_id)
    row = FundValuationRow(
        id=new_id(),
        org_id=caller.org_id,
        fund_id=fund.id,
        as_of=body.as_of,
        nav=body.nav,
        created_by=caller.actor_id,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    valuation = Valuation(
        id=row.id, fund_id=fund.id, as_of=row.as_of, nav=row.nav, currency=fund.currency, created_at=row.created_at
    )
    await append_event(
        session,
        caller,
        type="fund.valuation_recorded",
        subject_type="fund",
        subject_id=fund.id,
        payload=valuation.model_dump(mode="json"),
    )
    return valuation


def _commitment(row: CommitmentRow, currency: str) -> Commitment:
    return Commitment(
        id=row.id,
        fund_id=row.fund_id,
        investor_id=row.investor_id,
        amount=row.amount,
        currency=currency,
        created_at=as_utc(row.created_at),
    )


async def add_commitment(
    session: AsyncSession, caller: ServiceCaller, fund_id: str, body: CommitmentCreate
) -> Commitment:
    fund = await read_fund(session, caller, fund_id)
    investor = await read_investor(session, caller, body.investor_id)
    row = CommitmentRow(
        id=new_id(),
        org_id=caller.org_id,
        fund_id=fund.id,
        investor_id=investor.id,
        amount=body.amount,
        created_by=caller.actor_id,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    commitment = _commitment(row, fund.currency)
    await append_event(
        session,
        caller,
        type="commitment.added",
        subject_type="fund",
        subject_id=fund.id,
        payload=commitment.model_dump(mode="json"),
    )
    return commitment


async def list_commitments(
    session: AsyncSession, caller: ServiceCaller, fund_id: str, *, limit: int, cursor: str | None
) -> tuple[list[Commitment], str | None]:
    fund = await read_fund(session, caller, fund_id)
    statement = select(CommitmentRow).where(CommitmentRow.org_id == caller.org_id, CommitmentRow.fund_id == fund.id)
    rows, next_cursor = await keyset_page(session, statement, CommitmentRow, limit=limit, cursor=cursor)
    return [_commitment(row, fund.currency) for row in rows], next_cursor


async def committed_and_called(
    session: AsyncSession, caller: ServiceCaller, fund_id: str
) -> tuple[dict[str, int], dict[str, int]]:
    """Per investor with a commitment to the fund: what it committed, and what it has been asked for in calls
    that are not cancelled (paid or not; 0 when nothing).

    One statement, one row per investor: both sums come from a ``UNION ALL`` grouped by investor (a third
    column counts the commitment rows, so an investor with calls but no commitment is left out). Fetched at
    once on the session's connection: plain rows, not the ORM's result layer.
    """
    commitments = select(
        CommitmentRow.investor_id.label("investor_id"),
        CommitmentRow.amount.label("committed"),
        literal(0).label("called"),
        literal(1).label("commitments"),
    ).where(CommitmentRow.org_id == caller.org_id, CommitmentRow.fund_id == fund_id)
    shares = (
        select(
            CapitalCallAllocationRow.investor_id,
            literal(0),
            CapitalCallAllocationRow.amount,
            literal(0),
        )
        .select_from(CapitalCallRow)
        .join(CapitalCallAllocationRow, CapitalCallAllocationRow.call_id == CapitalCallRow.id)
        .where(
            CapitalCallRow.org_id == caller.org_id,
            CapitalCallRow.fund_id == fund_id,
            CapitalCallRow.status != "cancelled",
            share_in_org(CapitalCallAllocationRow.org_id, caller.org_id),
        )
    )
    both = union_all(commitments, shares).subquery()
    statement = select(
        both.c.investor_id, func.sum(both.c.committed), func.sum(both.c.called), func.sum(both.c.commitments)
    ).group_by(both.c.investor_id)
    committed: dict[str, int] = {}
    called: dict[str, int] = {}
    result = await (await session.connection()).execute(statement)
    for rows in result.partitions(ROWS_AT_A_TIME):
        for investor_id, committed_total, called_total, entries in rows:
            if entries:
                committed[investor_id] = int(committed_total)
                called[investor_id] = int(called_total)
    return committed, called

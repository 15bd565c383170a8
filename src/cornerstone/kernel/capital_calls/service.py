"""Capital call use cases: draft -> issued -> partially_funded -> funded, or cancelled.

Allocation: the call amount is split pro rata to the investors' commitments, exact to the
cent by the largest-remainder method (``kit.money.allocate``: leftover cents go to the largest
remainders, ties to the larger commitment, then the smaller investor id), and never past what
an investor has not yet been called for: ``committed - called`` where ``called`` sums their
shares of every call that is not cancelled. An investor who would exceed that is capped and
the rest is spread over the others; a call larger than everything uncalled is refused
(409 ``CALL_EXCEEDS_UNFUNDED``).

Every money write on a fund first takes the fund's lock (an advisory lock on PostgreSQL; the
write transaction itself on SQLite), so two calls can never both pass the unfunded check.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.funds import (
    CapitalCall,
    CapitalCallCreate,
    CapitalCallPage,
    CapitalCallPreview,
    CapitalCallStatus,
    PaymentCreate,
    PreviewAllocation,
)
from cornerstone.kernel.deals import repository as deals
from cornerstone.kernel.errors import DealNotFound
from cornerstone.kernel.events.service import LEDGER_COVERED, allocations_digest, append_event, ledger_entry_sha256
from cornerstone.kernel.funds.service import (
    ROWS_AT_A_TIME,
    committed_and_called,
    lock_fund,
    read_fund,
    share_in_org,
)
from cornerstone.kernel.models import CapitalCallAllocationRow, CapitalCallRow, LedgerEntryRow
from cornerstone.kernel.models.base import table_of
from cornerstone.kernel.money_operations import SharesAnswer, insert_shares
from cornerstone.kernel.paging import keyset_page
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.ids import new_id
from cornerstone.kit.money import allocate
from cornerstone.kit.problems import Conflict, NotFound
from cornerstone.kit.request_context import current_request_id
from cornerstone.kit.service_auth import ServiceCaller

OPEN_FOR_PAYMENT = {CapitalCallStatus.ISSUED.value, CapitalCallStatus.PARTIALLY_FUNDED.value}


class CapitalCallNotFound(NotFound):
    """No capital call with this id in the caller's org."""

    code = "CAPITAL_CALL_NOT_FOUND"
    title = "Capital call not found"

    def __init__(self) -> None:
        super().__init__("No capital call with this id.")


class CallExceedsUnfunded(Conflict):
    """The call asks for more than the fund's uncalled commitments; ``uncalled`` says how much is left."""

    code = "CALL_EXCEEDS_UNFUNDED"
    title = "Call exceeds unfunded commitments"


class CapitalCallStateConflict(Conflict):
    """The call's status does not allow this (only a draft is issued; only a draft or issued call is cancelled)."""

    code = "CAPITAL_CALL_STATE_CONFLICT"
    title = "Not possible in the call's status"


class CallHasPayments(Conflict):
    """A call with payments recorded cannot be cancelled."""

    code = "CALL_HAS_PAYMENTS"
    title = "The call has payments"


class PaymentExceedsAllocation(Conflict):
    """The payment is more than the investor still owes on the call; ``due`` says how much."""

    code = "PAYMENT_EXCEEDS_ALLOCATION"
    title = "Payment exceeds what is due"


class InvestorNotInCall(Conflict):
    """A payment for an investor who has no share of the call."""

    code = "INVESTOR_NOT_IN_CALL"
    title = "Investor has no share of this call"


async def _allocations(session: AsyncSession, caller: ServiceCaller, call_id: str) -> list[dict[str, Any]]:
    # Plain rows, not ORM objects nor a model each: a call of a large fund has a share per investor (tens of
    # thousands), validated into the contract in one go.
    statement = (
        select(CapitalCallAllocationRow.investor_id, CapitalCallAllocationRow.amount, CapitalCallAllocationRow.paid)
        .where(
            share_in_org(CapitalCallAllocationRow.org_id, caller.org_id), CapitalCallAllocationRow.call_id == call_id
        )
        .order_by(CapitalCallAllocationRow.investor_id)
    )
    result = await (await session.connection()).execute(statement)
    return [
        {"investor_id": investor_id, "amount": amount, "paid": paid}
        for rows in result.partitions(ROWS_AT_A_TIME)
        for investor_id, amount, paid in rows
    ]


def _answer(row: CapitalCallRow, allocations: list[dict[str, Any]]) -> SharesAnswer[CapitalCall]:
    """The call's answer; ``allocations`` as ``CallAllocation`` fields, in their order (``investor_id``,
    ``amount``, ``paid``)."""
    fields = {
        "id": row.id,
        "fund_id": row.fund_id,
        "amount": row.amount,
        "currency": row.currency,
        "due_date": row.due_date,
        "purpose": row.purpose,
        "deal_id": row.deal_id,
        "status": CapitalCallStatus(row.status),
        "paid": row.paid,
        "created_by": row.created_by,
        "created_at": as_utc(row.created_at),
        "version": row.version,
    }
    return SharesAnswer(CapitalCall, fields, allocations)


async def to_answer(session: AsyncSession, caller: ServiceCaller, row: CapitalCallRow) -> SharesAnswer[CapitalCall]:
    return _answer(row, await _allocations(session, caller, row.id))


async def to_contract(session: AsyncSession, caller: ServiceCaller, row: CapitalCallRow) -> CapitalCall:
    return (await to_answer(session, caller, row)).contract()


async def load_call_answer(session: AsyncSession, caller: ServiceCaller, call_id: str) -> SharesAnswer[CapitalCall]:
    return await to_answer(session, caller, await read_call(session, caller, call_id))


async def load_call(session: AsyncSession, caller: ServiceCaller, call_id: str) -> CapitalCall:
    return (await load_call_answer(session, caller, call_id)).contract()


async def read_call(
    session: AsyncSession, caller: ServiceCaller, call_id: str, *, for_update: bool = False
) -> CapitalCallRow:
    statement = select(CapitalCallRow).where(CapitalCallRow.org_id == caller.org_id, CapitalCallRow.id == call_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await session.execute(statement)).scalar_one_or_none()
    if row is None:
        raise CapitalCallNotFound()
    return row


async def _check_deal(session: AsyncSession, caller: ServiceCaller, body: CapitalCallCreate) -> None:
    if body.deal_id is not None and await deals.get_deal(session, caller, body.deal_id) is None:
        raise DealNotFound()


async def _allocate(session: AsyncSession, caller: ServiceCaller, fund_id: str, amount: int) -> list[tuple[str, int]]:
    """Each investor's share of a call of ``amount`` on the fund as it stands, by investor id (shares of 0 left
    out); 409 ``CALL_EXCEEDS_UNFUNDED`` past everything uncalled. Creating a call and previewing one both ask
    this, so a preview shows exactly the shares a call made next with the same body gets."""
    committed, called = await committed_and_called(session, caller, fund_id)
    uncalled = {investor: max(total - called[investor], 0) for investor, total in committed.items()}
    available = sum(uncalled.values())
    if amount > available:
        raise CallExceedsUnfunded(
            f"The call asks for {amount} but only {available} of the commitments is uncalled.",
            extra={"uncalled": available},
        )
    # The caps only bind when some pro-rata share would pass what its investor has uncalled. When none does (the
    # usual case), water-filling caps nobody and gives exactly the plain split: skip checking and sorting the caps.
    weight = sum(committed.values())
    capped = any(amount * total > uncalled[investor] * weight for investor, total in committed.items())
    shares = allocate(amount, committed, caps=uncalled if capped else None)
    return [(investor, share) for investor, share in sorted(shares.items()) if share > 0]


async def preview_call(session: AsyncSession, caller: ServiceCaller, body: CapitalCallCreate) -> CapitalCallPreview:
    """The shares a call with ``body`` would be allocated now, computed as ``create_call`` computes them;
    nothing is written (no call, no share, no event, no ledger entry). The same refusals as creating it:
    unknown fund or deal (404), more than is uncalled (409)."""
    fund = await read_fund(session, caller, body.fund_id)
    await _check_deal(session, caller, body)
    allocated = await _allocate(session, caller, fund.id, body.amount)
    return CapitalCallPreview(
        fund_id=fund.id,
        amount=body.amount,
        currency=fund.currency,
        allocations=[PreviewAllocation(investor_id=investor, amount=amount) for investor, amount in allocated],
    )


async def create_call(session: AsyncSession, caller: ServiceCaller, body: CapitalCallCreate) -> CapitalCall:
    return (await create_call_answer(session, caller, body)).contract()


async def create_call_answer(
    session: AsyncSession, caller: ServiceCaller, body: CapitalCallCreate
) -> SharesAnswer[CapitalCall]:
    fund = await read_fund(session, caller, body.fund_id)
    await _check_deal(session, caller, body)
    await lock_fund(session, caller, fund.id)
    allocated = await _allocate(session, caller, fund.id, body.amount)
    now = utcnow()
    row = CapitalCallRow(
        id=new_id(),
        org_id=caller.org_id,
        fund_id=fund.id,
        amount=body.amount,
        currency=fund.currency,
        due_date=body.due_date,
        purpose=body.purpose,
        deal_id=body.deal_id,
        status=CapitalCallStatus.DRAFT.value,
        paid=0,
        version=1,
        created_by=caller.actor_id,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    call_id, org_id = row.id, caller.org_id  # plain locals: an ORM attribute read per share adds up
    # One executemany, not an ORM object per investor.
    await insert_shares(
        session,
        table_of(CapitalCallAllocationRow),
        ("call_id", "investor_id", "org_id", "amount", "paid"),
        [(call_id, investor, org_id, amount, 0) for investor, amount in allocated],
    )
    call = _answer(row, [{"investor_id": investor, "amount": amount, "paid": 0} for investor, amount in allocated])
    await append_event(
        session,
        caller,
        type="capital_call.created",
        subject_type="capital_call",
        subject_id=row.id,
        payload={
            "fund_id": fund.id,
            "amount": row.amount,
            "due_date": row.due_date.isoformat(),
            "deal_id": row.deal_id,
            # The shares themselves are rows of their own; the event pins them by hash.
            "investors": len(allocated),
            "allocations_sha256": allocations_digest(dict(allocated)),
        },
    )
    return call


async def _set_status(session: AsyncSession, row: CapitalCallRow, status: CapitalCallStatus) -> None:
    row.status = status.value
    row.version += 1
    row.updated_at = utcnow()
    await session.flush()


async def issue_call(session: AsyncSession, caller: ServiceCaller, call_id: str) -> CapitalCall:
    row = await read_call(session, caller, call_id, for_update=True)
    if row.status != CapitalCallStatus.DRAFT.value:
        raise CapitalCallStateConflict(f"Only a draft call can be issued; this one is {row.status}.")
    await _set_status(session, row, CapitalCallStatus.ISSUED)
    await append_event(
        session, caller, type="capital_call.issued", subject_type="capital_call", subject_id=row.id, payload={}
    )
    return await to_contract(session, caller, row)


async def cancel_call(session: AsyncSession, caller: ServiceCaller, call_id: str) -> CapitalCall:
    row = await read_call(session, caller, call_id, for_update=True)
    if row.paid > 0:
        raise CallHasPayments("A call with payments recorded cannot be cancelled.")
    if row.status not in {CapitalCallStatus.DRAFT.value, CapitalCallStatus.ISSUED.value}:
        raise CapitalCallStateConflict(f"A {row.status} call cannot be cancelled.")
    await _set_status(session, row, CapitalCallStatus.CANCELLED)
    await append_event(
        session, caller, type="capital_call.cancelled", subject_type="capital_call", subject_id=row.id, payload={}
    )
    return await to_contract(session, caller, row)


async def record_payment(
    session: AsyncSession, caller: ServiceCaller, call_id: str, body: PaymentCreate
) -> CapitalCall:
    return (await record_payment_answer(session, caller, call_id, body)).contract()


async def record_payment_answer(
    session: AsyncSession, caller: ServiceCaller, call_id: str, body: PaymentCreate
) -> SharesAnswer[CapitalCall]:
    row = await read_call(session, caller, call_id)
    await lock_fund(session, caller, row.fund_id)
    await session.refresh(row, with_for_update=True)  # read again under the fund's lock
    if row.status not in OPEN_FOR_PAYMENT:
        raise CapitalCallStateConflict(f"Payments are recorded on issued calls; this one is {row.status}.")
    share = (
        await session.execute(
            select(CapitalCallAllocationRow.amount, CapitalCallAllocationRow.paid)
            .where(
                CapitalCallAllocationRow.org_id == caller.org_id,
                CapitalCallAllocationRow.call_id == row.id,
                CapitalCallAllocationRow.investor_id == body.investor_id,
            )
            .with_for_update()
        )
    ).first()
    if share is None:
        raise InvestorNotInCall("This investor has no share of the call.")
    due = share.amount - share.paid
    if body.amount > due:
        raise PaymentExceedsAllocation(
            f"The investor owes {due} on this call; a payment of {body.amount} is more than that.",
            extra={"due": due},
        )
    await session.execute(
        update(CapitalCallAllocationRow)
        .where(
            CapitalCallAllocationRow.org_id == caller.org_id,
            CapitalCallAllocationRow.call_id == row.id,
            CapitalCallAllocationRow.investor_id == body.investor_id,
        )
        .values(paid=CapitalCallAllocationRow.paid + body.amount)
        .execution_options(synchronize_session=False)
    )
    row.paid += body.amount
    status = CapitalCallStatus.FUNDED if row.paid == row.amount else CapitalCallStatus.PARTIALLY_FUNDED
    await _set_status(session, row, status)
    entry = LedgerEntryRow(
        id=new_id(),
        org_id=caller.org_id,
        fund_id=row.fund_id,
        investor_id=body.investor_id,
        kind="contribution",
        amount=body.amount,
        on=body.received_at,
        source_type="capital_call",
        source_id=row.id,
        request_id=current_request_id(),
        created_at=utcnow(),
    )
    session.add(entry)
    await session.flush()
    await append_event(
        session,
        caller,
        type="capital_call.payment_recorded",
        subject_type="capital_call",
        subject_id=row.id,
        payload={
            "investor_id": body.investor_id,
            "amount": body.amount,
            "received_at": body.received_at.isoformat(),
            "ledger_entry_id": entry.id,
            "status": row.status,
            # Pins the ledger row it wrote, for `cornerstone kernel verify` (the share's and the call's `paid`
            # are the sums of these events' amounts).
            "ledger_entry_sha256": ledger_entry_sha256({name: getattr(entry, name) for name in LEDGER_COVERED}),
        },
    )
    return await to_answer(session, caller, row)


async def list_calls(
    session: AsyncSession, caller: ServiceCaller, *, fund_id: str | None, limit: int, cursor: str | None
) -> CapitalCallPage:
    statement = select(CapitalCallRow).where(CapitalCallRow.org_id == caller.org_id)
    if fund_id is not None:
        statement = statement.where(CapitalCallRow.fund_id == fund_id)
    rows, next_cursor = await keyset_page(session, statement, CapitalCallRow, limit=limit, cursor=cursor)
    return CapitalCallPage(items=[await to_contract(session, caller, row) for row in rows], next_cursor=next_cursor)

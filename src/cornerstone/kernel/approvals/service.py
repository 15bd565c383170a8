"""Approvals: a person's approve or deny of one outgoing edge, in the deal's current stage visit.

Only someone holding a role the edge's gate names (an org role, or their deal role as a party)
may vote on it (403 otherwise). Votes are never deleted: a denial is withdrawn by its author,
and a stage change leaves every vote of the previous visit behind (it no longer counts).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.deals import Stage
from cornerstone.contracts.evidence import Approval, ApprovalCreate, ApprovalList, DealRole, Decision
from cornerstone.kernel.deals import repository as deals
from cornerstone.kernel.deals.state_machine import approver_roles, find_edge
from cornerstone.kernel.errors import DealTransitionNotAllowed
from cornerstone.kernel.events.service import append_event
from cornerstone.kernel.models import ApprovalRow, DealRow
from cornerstone.kernel.parties.service import deal_role_of
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.ids import new_id
from cornerstone.kit.problems import Conflict, Forbidden, NotFound
from cornerstone.kit.service_auth import ServiceCaller


class ApprovalNotFound(NotFound):
    """No approval with this id visible to the caller."""

    code = "APPROVAL_NOT_FOUND"
    title = "Approval not found"

    def __init__(self) -> None:
        super().__init__("No approval with this id.")


class NotTheAuthor(Forbidden):
    """Refused for this object, not for the caller's role: only an approval's author withdraws it."""

    code = "NOT_THE_AUTHOR"
    title = "Not the author"


class ApprovalStateConflict(Conflict):
    """The approval cannot be changed that way in its state (it was already withdrawn)."""

    code = "APPROVAL_STATE_CONFLICT"
    title = "Not possible for this approval"


def to_contract(row: ApprovalRow, deal: DealRow) -> Approval:
    return Approval(
        id=row.id,
        deal_id=row.deal_id,
        stage=Stage(row.stage),
        to=Stage(row.target),
        decision=Decision(row.decision),
        comment=row.comment,
        approver_id=row.approver_id,
        approver_role=row.approver_role,
        deal_role=DealRole(row.deal_role) if row.deal_role else None,
        current=row.stage_visit == deal.stage_visit and row.withdrawn_at is None,
        withdrawn_at=as_utc(row.withdrawn_at) if row.withdrawn_at else None,
        created_at=as_utc(row.created_at),
    )


async def give_approval(session: AsyncSession, caller: ServiceCaller, deal_id: str, body: ApprovalCreate) -> Approval:
    deal = await deals.visible_deal(session, caller, deal_id, for_update=True)
    source = Stage(deal.stage)
    edge = find_edge(source, body.to)
    if edge is None:
        raise DealTransitionNotAllowed(
            f"A deal cannot move from `{source.value}` to `{body.to.value}`: there is nothing to approve.",
            extra={"from": source.value, "to": body.to.value},
        )
    roles = approver_roles(edge)
    deal_role = await deal_role_of(session, caller, deal.id)
    if caller.actor_role not in roles and (deal_role is None or f"deal:{deal_role}" not in roles):
        named = sorted(role.replace("deal:", "deal ") for role in roles) or ["nobody: this move needs no approval"]
        raise Forbidden(
            f"Approvals of `{source.value}` -> `{body.to.value}` come from: {', '.join(named)}.",
            extra={"roles": sorted(roles)},
        )
    row = ApprovalRow(
        id=new_id(),
        org_id=caller.org_id,
        deal_id=deal.id,
        stage=source.value,
        stage_visit=deal.stage_visit,
        target=body.to.value,
        decision=body.decision.value,
        comment=body.comment,
        approver_id=caller.actor_id,
        approver_role=caller.actor_role,
        deal_role=deal_role,
        withdrawn_at=None,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    approval = to_contract(row, deal)
    await append_event(
        session,
        caller,
        type="deal.approval_given" if body.decision == Decision.APPROVE else "deal.approval_denied",
        subject_type="deal",
        subject_id=deal.id,
        payload={
            "approval_id": row.id,
            "stage": row.stage,
            "stage_visit": row.stage_visit,
            "to": row.target,
            "decision": row.decision,
            "deal_role": deal_role,
        },
    )
    return approval


async def withdraw_approval(session: AsyncSession, caller: ServiceCaller, approval_id: str) -> Approval:
    row = (
        await session.execute(
            select(ApprovalRow).where(ApprovalRow.org_id == caller.org_id, ApprovalRow.id == approval_id)
        )
    ).scalar_one_or_none()
    deal = await deals.get_deal(session, caller, row.deal_id, for_update=True) if row is not None else None
    if row is None or deal is None:
        raise ApprovalNotFound()
    await session.refresh(row)  # as it is now that the deal is locked: a racing withdrawal may have won
    if row.approver_id != caller.actor_id:
        raise NotTheAuthor("Only the person who gave an approval or denial can withdraw it.")
    if row.withdrawn_at is not None:
        raise ApprovalStateConflict("This approval was already withdrawn.")
    row.withdrawn_at = utcnow()
    await session.flush()
    await append_event(
        session,
        caller,
        type="deal.approval_withdrawn",
        subject_type="deal",
        subject_id=deal.id,
        payload={"approval_id": row.id, "to": row.target, "decision": row.decision},
    )
    return to_contract(row, deal)


async def list_approvals(session: AsyncSession, caller: ServiceCaller, deal_id: str) -> ApprovalList:
    deal = await deals.visible_deal(session, caller, deal_id)
    rows = (
        await session.execute(
            select(ApprovalRow)
            .where(ApprovalRow.org_id == caller.org_id, ApprovalRow.deal_id == deal.id)
            .order_by(ApprovalRow.created_at, ApprovalRow.id)
        )
    ).scalars()
    return ApprovalList(items=[to_contract(row, deal) for row in rows])

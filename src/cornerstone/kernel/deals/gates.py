"""Everything a deal's gates look at, read in one place: the deal's fields, the votes of its
current stage visit, the truth class of each material's latest revision, unverified AI
materials, unused overrides, linked capital calls and the org's thresholds."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.deals import Stage
from cornerstone.contracts.evidence import DEFAULT_IC_QUORUM, Decision, TruthClass
from cornerstone.kernel.checklists.service import items_at, open_required
from cornerstone.kernel.deals.state_machine import GateContext, Vote
from cornerstone.kernel.models import (
    ApprovalRow,
    CapitalCallRow,
    DealRow,
    GateOverrideRow,
    MaterialRevisionRow,
    OrgSettingRow,
)
from cornerstone.kit.service_auth import ServiceCaller

ADDRESS_FIELDS = ("street", "city", "state", "postal_code", "country")
SCALAR_FIELDS = (
    "name",
    "asset_class",
    "square_feet",
    "units",
    "currency",
    "purchase_price",
    "noi",
    "loan_amount",
    "equity_required",
    "projected_irr",
    "projected_multiple",
)


async def ic_quorum(session: AsyncSession, caller: ServiceCaller) -> int:
    setting = await session.get(OrgSettingRow, caller.org_id)
    return setting.ic_quorum if setting is not None else DEFAULT_IC_QUORUM


async def latest_truth_classes(session: AsyncSession, caller: ServiceCaller, deal_id: str) -> dict[str, TruthClass]:
    """The truth class of each material type's latest revision on the deal."""
    latest = (
        select(MaterialRevisionRow.type, func.max(MaterialRevisionRow.revision).label("revision"))
        .where(MaterialRevisionRow.org_id == caller.org_id, MaterialRevisionRow.deal_id == deal_id)
        .group_by(MaterialRevisionRow.type)
        .subquery()
    )
    statement = (
        select(MaterialRevisionRow.type, MaterialRevisionRow.truth_class)
        .join(
            latest,
            (MaterialRevisionRow.type == latest.c.type) & (MaterialRevisionRow.revision == latest.c.revision),
        )
        .where(MaterialRevisionRow.org_id == caller.org_id, MaterialRevisionRow.deal_id == deal_id)
    )
    return {kind: TruthClass(truth) for kind, truth in (await session.execute(statement)).all()}


async def gate_context(session: AsyncSession, caller: ServiceCaller, row: DealRow, reason: str | None) -> GateContext:
    org = caller.org_id
    votes = (
        await session.execute(
            select(ApprovalRow).where(
                ApprovalRow.org_id == org,
                ApprovalRow.deal_id == row.id,
                ApprovalRow.stage_visit == row.stage_visit,
                ApprovalRow.withdrawn_at.is_(None),
            )
        )
    ).scalars()
    overrides = (
        await session.execute(
            select(GateOverrideRow.target).where(
                GateOverrideRow.org_id == org,
                GateOverrideRow.deal_id == row.id,
                GateOverrideRow.stage_visit == row.stage_visit,
                GateOverrideRow.consumed_at.is_(None),
            )
        )
    ).scalars()
    unfunded = (
        await session.execute(
            select(func.count()).where(
                CapitalCallRow.org_id == org,
                CapitalCallRow.deal_id == row.id,
                CapitalCallRow.status.not_in(["funded", "cancelled"]),
            )
        )
    ).scalar_one()
    materials = await latest_truth_classes(session, caller, row.id)
    checklist = await items_at(session, caller, row.id)
    return GateContext(
        stage=Stage(row.stage),
        held_from=Stage(row.held_from) if row.held_from else None,
        fields={name: getattr(row, name) for name in (*SCALAR_FIELDS, *ADDRESS_FIELDS)},
        reason=reason,
        unfunded_linked_calls=int(unfunded),
        votes=tuple(
            Vote(
                target=Stage(vote.target),
                decision=Decision(vote.decision),
                approver_id=vote.approver_id,
                approver_role=vote.approver_role,
                deal_role=vote.deal_role,
            )
            for vote in votes
        ),
        materials=materials,
        unverified_ai_materials=sum(1 for truth in materials.values() if truth == TruthClass.AI),
        open_checklist_items=open_required(checklist) if checklist else None,
        overridden=frozenset(Stage(target) for target in overrides),
        ic_quorum=await ic_quorum(session, caller),
    )

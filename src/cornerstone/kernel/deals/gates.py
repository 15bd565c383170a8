"""Everything a deal's gates look at, read in one place: the deal's fields, the votes of its
stage visit, the latest revision of each material, the diligence checklist, unused overrides,
linked capital calls and the org's thresholds.

Read now (enforcement and the preview) or as of a past instant (the snapshot): the same queries
with the instant as a bound, so the snapshot's gates are the engine's own answer on the evidence
of that time. Everything here is append-only or stamped (``withdrawn_at``, ``consumed_at``, the
capital calls' events), which is what makes "as of" answerable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.deals import Stage
from cornerstone.contracts.evidence import DEFAULT_IC_QUORUM, Decision, TruthClass
from cornerstone.contracts.funds import CapitalCallStatus
from cornerstone.kernel.checklists.service import items_at, open_required
from cornerstone.kernel.deals.state_machine import GateContext, Vote
from cornerstone.kernel.models import (
    ApprovalRow,
    CapitalCallRow,
    ChecklistItemRevisionRow,
    DealRow,
    EventRow,
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
SETTLED_CALL = (CapitalCallStatus.FUNDED.value, CapitalCallStatus.CANCELLED.value)
_CALL_STATUS_OF_EVENT = {
    "capital_call.created": CapitalCallStatus.DRAFT.value,
    "capital_call.issued": CapitalCallStatus.ISSUED.value,
    "capital_call.cancelled": CapitalCallStatus.CANCELLED.value,
}


@dataclass(frozen=True, slots=True)
class DealState:
    """What the gates read of the deal itself: as stored now, or as replayed to an instant."""

    id: str
    stage: Stage
    held_from: Stage | None
    stage_visit: int
    fields: Mapping[str, Any]

    @classmethod
    def of(cls, row: DealRow) -> DealState:
        return cls(
            id=row.id,
            stage=Stage(row.stage),
            held_from=Stage(row.held_from) if row.held_from else None,
            stage_visit=row.stage_visit,
            fields={name: getattr(row, name) for name in (*SCALAR_FIELDS, *ADDRESS_FIELDS)},
        )


@dataclass(frozen=True, slots=True)
class Evidence:
    votes: list[ApprovalRow]  # of the stage visit, not withdrawn (at the instant)
    overrides: list[GateOverrideRow]  # of the stage visit, not yet used (at the instant)
    materials: list[MaterialRevisionRow]  # the latest revision of each type
    checklist: list[ChecklistItemRevisionRow]  # each item's latest revision
    unfunded_linked_calls: int
    ic_quorum: int


def _not_after(column: Any, at: datetime | None) -> Any:
    return column.is_(None) if at is None else or_(column.is_(None), column > at)


async def ic_quorum(session: AsyncSession, caller: ServiceCaller, at: datetime | None = None) -> int:
    if at is None:
        setting = await session.get(OrgSettingRow, caller.org_id)
        return setting.ic_quorum if setting is not None else DEFAULT_IC_QUORUM
    changed = await session.execute(
        select(EventRow.payload)
        .where(EventRow.org_id == caller.org_id, EventRow.type == "org.settings_changed", EventRow.created_at <= at)
        .order_by(EventRow.seq.desc())
        .limit(1)
    )
    payload = changed.scalar_one_or_none()
    return int(json.loads(payload)["after"]["ic_quorum"]) if payload else DEFAULT_IC_QUORUM


async def latest_materials(
    session: AsyncSession, caller: ServiceCaller, deal_id: str, at: datetime | None = None
) -> list[MaterialRevisionRow]:
    """The latest revision (as of ``at``, when given) of each material type on the deal, by type."""
    revisions = select(MaterialRevisionRow.type, func.max(MaterialRevisionRow.revision).label("revision")).where(
        MaterialRevisionRow.org_id == caller.org_id, MaterialRevisionRow.deal_id == deal_id
    )
    if at is not None:
        revisions = revisions.where(MaterialRevisionRow.created_at <= at)
    latest = revisions.group_by(MaterialRevisionRow.type).subquery()
    statement = (
        select(MaterialRevisionRow)
        .join(
            latest,
            and_(MaterialRevisionRow.type == latest.c.type, MaterialRevisionRow.revision == latest.c.revision),
        )
        .where(MaterialRevisionRow.org_id == caller.org_id, MaterialRevisionRow.deal_id == deal_id)
        .order_by(MaterialRevisionRow.type)
    )
    return list((await session.execute(statement)).scalars())


async def _unfunded_linked_calls(
    session: AsyncSession, caller: ServiceCaller, deal_id: str, at: datetime | None
) -> int:
    if at is None:
        count = await session.execute(
            select(func.count()).where(
                CapitalCallRow.org_id == caller.org_id,
                CapitalCallRow.deal_id == deal_id,
                CapitalCallRow.status.not_in(SETTLED_CALL),
            )
        )
        return int(count.scalar_one())
    # A call's status at an instant is the one its last event up to then left it in.
    calls = select(CapitalCallRow.id).where(
        CapitalCallRow.org_id == caller.org_id, CapitalCallRow.deal_id == deal_id, CapitalCallRow.created_at <= at
    )
    events = await session.execute(
        select(EventRow.subject_id, EventRow.type, EventRow.payload)
        .where(
            EventRow.org_id == caller.org_id,
            EventRow.subject_type == "capital_call",
            EventRow.subject_id.in_(calls),
            EventRow.created_at <= at,
        )
        .order_by(EventRow.seq)
    )
    status: dict[str, str] = {}
    for call_id, kind, payload in events.all():
        status[call_id] = _CALL_STATUS_OF_EVENT.get(kind) or json.loads(payload).get("status", status.get(call_id, ""))
    return sum(1 for value in status.values() if value not in SETTLED_CALL)


async def gather_evidence(
    session: AsyncSession, caller: ServiceCaller, deal: DealState, at: datetime | None = None
) -> Evidence:
    """The deal's evidence now (``at`` None) or as it stood at ``at``."""
    org = caller.org_id
    votes = select(ApprovalRow).where(
        ApprovalRow.org_id == org,
        ApprovalRow.deal_id == deal.id,
        ApprovalRow.stage_visit == deal.stage_visit,
        _not_after(ApprovalRow.withdrawn_at, at),
    )
    overrides = select(GateOverrideRow).where(
        GateOverrideRow.org_id == org,
        GateOverrideRow.deal_id == deal.id,
        GateOverrideRow.stage_visit == deal.stage_visit,
        _not_after(GateOverrideRow.consumed_at, at),
    )
    if at is not None:
        votes = votes.where(ApprovalRow.created_at <= at)
        overrides = overrides.where(GateOverrideRow.created_at <= at)
    return Evidence(
        votes=list((await session.execute(votes.order_by(ApprovalRow.created_at, ApprovalRow.id))).scalars()),
        overrides=list(
            (await session.execute(overrides.order_by(GateOverrideRow.created_at, GateOverrideRow.id))).scalars()
        ),
        materials=await latest_materials(session, caller, deal.id, at),
        checklist=await items_at(session, caller, deal.id, at),
        unfunded_linked_calls=await _unfunded_linked_calls(session, caller, deal.id, at),
        ic_quorum=await ic_quorum(session, caller, at),
    )


def context_of(deal: DealState, evidence: Evidence, reason: str | None) -> GateContext:
    materials = {row.type: TruthClass(row.truth_class) for row in evidence.materials}
    return GateContext(
        stage=deal.stage,
        held_from=deal.held_from,
        fields=deal.fields,
        reason=reason,
        unfunded_linked_calls=evidence.unfunded_linked_calls,
        votes=tuple(
            Vote(
                target=Stage(vote.target),
                decision=Decision(vote.decision),
                approver_id=vote.approver_id,
                approver_role=vote.approver_role,
                deal_role=vote.deal_role,
            )
            for vote in evidence.votes
        ),
        materials=materials,
        unverified_ai_materials=sum(1 for truth in materials.values() if truth == TruthClass.AI),
        open_checklist_items=open_required(evidence.checklist) if evidence.checklist else None,
        overridden=frozenset(Stage(row.target) for row in evidence.overrides),
        ic_quorum=evidence.ic_quorum,
    )


async def gate_context(session: AsyncSession, caller: ServiceCaller, row: DealRow, reason: str | None) -> GateContext:
    """The gates' view of the deal as it is now."""
    state = DealState.of(row)
    return context_of(state, await gather_evidence(session, caller, state), reason)

"""A deal at a past instant: its fields and stage replayed from its events, its evidence read as
of that instant, and every outgoing edge judged by the same ``evaluate_gate`` that enforces.

Only the past can be asked for (``at`` after now is refused), so the same question always gets
the same answer: nothing at or before ``at`` is ever rewritten. The answer does not depend on who
asks (the gates are reported without the caller's permission to move).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.deals import Deal, Stage
from cornerstone.contracts.evidence import Approval
from cornerstone.contracts.snapshots import DealSnapshot, GateStatus
from cornerstone.kernel.approvals.service import to_contract as approval_contract
from cornerstone.kernel.checklists.service import to_contract as checklist_item_contract
from cornerstone.kernel.deals import repository
from cornerstone.kernel.deals.gates import ADDRESS_FIELDS, DealState, context_of, gather_evidence
from cornerstone.kernel.deals.state_machine import PHASE_OF, edges_from, evaluate_gate
from cornerstone.kernel.materials.service import to_contract as material_contract
from cornerstone.kernel.models import ApprovalRow, DealRow, EventRow
from cornerstone.kernel.overrides.service import to_contract as override_contract
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.problems import invalid_field
from cornerstone.kit.service_auth import ServiceCaller


def _replay(events: list[EventRow]) -> tuple[Deal, int]:
    """The deal as its events left it, and its stage visit (1, plus one per transition)."""
    deal: dict[str, Any] = json.loads(events[0].payload)
    visit = 1
    for event in events[1:]:
        payload = json.loads(event.payload)
        if event.type == "deal.updated":
            for name, change in payload["changes"].items():
                deal[name] = change["to"]
        elif event.type == "deal.transitioned":
            target = Stage(payload["to"])
            deal["stage"], deal["phase"] = target.value, PHASE_OF[target].value
            deal["held_from"] = payload["from"] if target == Stage.ON_HOLD else None
            visit += 1
        else:
            continue  # evidence, not the deal's own fields
        deal["version"] = payload["version"]
        deal["updated_at"] = as_utc(event.created_at).isoformat()
    return Deal.model_validate(deal), visit


async def snapshot(session: AsyncSession, caller: ServiceCaller, deal_id: str, at: datetime) -> DealSnapshot:
    if at.tzinfo is None:
        raise invalid_field("query.at", "give the instant with its UTC offset, e.g. 2026-05-01T12:00:00Z", "snapshot")
    at = at.astimezone(UTC)
    if at > utcnow():
        raise invalid_field("query.at", "a snapshot is of the past; this instant is in the future", "snapshot")
    row = await repository.visible_deal(session, caller, deal_id)
    events = list(
        (
            await session.execute(
                select(EventRow)
                .where(
                    EventRow.org_id == caller.org_id,
                    EventRow.subject_type == "deal",
                    EventRow.subject_id == row.id,
                    EventRow.created_at <= at,
                )
                .order_by(EventRow.seq)
            )
        ).scalars()
    )
    if not events or events[0].type != "deal.created":
        raise invalid_field("query.at", "the deal did not exist yet at this instant", "snapshot")
    deal, visit = _replay(events)
    fields = deal.model_dump(mode="json")
    state = DealState(
        id=deal.id,
        stage=deal.stage,
        held_from=deal.held_from,
        stage_visit=visit,
        fields={**fields, **{name: fields["address"][name] for name in ADDRESS_FIELDS}},
    )
    evidence = await gather_evidence(session, caller, state, at)
    context = context_of(state, evidence, reason=None)
    gates = []
    for edge in edges_from(deal.stage):
        unmet = evaluate_gate(edge, context)
        gates.append(GateStatus(to=edge.target, roles=sorted(edge.roles), met=not unmet, unmet=unmet))
    return DealSnapshot(
        at=at,
        as_of_seq=events[-1].seq,
        deal=deal,
        approvals=await _approvals_at(session, caller, row, visit, at),
        materials=[material_contract(revision) for revision in evidence.materials],
        checklist=[checklist_item_contract(item) for item in evidence.checklist],
        overrides=[
            override_contract(override).model_copy(update={"consumed_at": None}) for override in evidence.overrides
        ],
        gates=gates,
    )


async def _approvals_at(
    session: AsyncSession, caller: ServiceCaller, deal: DealRow, visit: int, at: datetime
) -> list[Approval]:
    """Every vote given up to ``at``, as it stood then: withdrawn only if withdrawn by then,
    counted only in the stage visit of that instant."""
    rows = await session.execute(
        select(ApprovalRow)
        .where(ApprovalRow.org_id == caller.org_id, ApprovalRow.deal_id == deal.id, ApprovalRow.created_at <= at)
        .order_by(ApprovalRow.created_at, ApprovalRow.id)
    )
    votes = []
    for row in rows.scalars():
        withdrawn = row.withdrawn_at is not None and as_utc(row.withdrawn_at) <= at
        vote = approval_contract(row, deal)
        votes.append(
            vote.model_copy(
                update={
                    "withdrawn_at": vote.withdrawn_at if withdrawn else None,
                    "current": row.stage_visit == visit and not withdrawn,
                }
            )
        )
    return votes

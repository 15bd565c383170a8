"""Overrides: an admin attests in writing why one edge's gate may be passed; the override
satisfies that gate once, in the current stage visit, and the transition consumes it. Both the
override and its use are events."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.deals import Stage
from cornerstone.contracts.evidence import Override, OverrideCreate
from cornerstone.kernel.deals import repository as deals
from cornerstone.kernel.deals.state_machine import find_edge
from cornerstone.kernel.errors import DealTransitionNotAllowed
from cornerstone.kernel.events.service import append_event
from cornerstone.kernel.models import GateOverrideRow
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.ids import new_id
from cornerstone.kit.problems import Forbidden
from cornerstone.kit.service_auth import ServiceCaller


def to_contract(row: GateOverrideRow) -> Override:
    return Override(
        id=row.id,
        deal_id=row.deal_id,
        stage=Stage(row.stage),
        to=Stage(row.target),
        attestation=row.attestation,
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
        consumed_at=as_utc(row.consumed_at) if row.consumed_at else None,
    )


async def create_override(session: AsyncSession, caller: ServiceCaller, deal_id: str, body: OverrideCreate) -> Override:
    if caller.actor_role != "admin":
        raise Forbidden("Only an admin may override a gate.")
    deal = await deals.visible_deal(session, caller, deal_id, for_update=True)
    source = Stage(deal.stage)
    if find_edge(source, body.to) is None:
        raise DealTransitionNotAllowed(
            f"A deal cannot move from `{source.value}` to `{body.to.value}`.",
            extra={"from": source.value, "to": body.to.value},
        )
    row = GateOverrideRow(
        id=new_id(),
        org_id=caller.org_id,
        deal_id=deal.id,
        stage=source.value,
        stage_visit=deal.stage_visit,
        target=body.to.value,
        attestation=body.attestation,
        created_by=caller.actor_id,
        created_at=utcnow(),
        consumed_at=None,
    )
    session.add(row)
    await session.flush()
    override = to_contract(row)
    await append_event(
        session,
        caller,
        type="deal.override_recorded",
        subject_type="deal",
        subject_id=deal.id,
        payload={"override_id": row.id, "from": source.value, "to": body.to.value, "attestation": body.attestation},
    )
    return override


async def consume_override(
    session: AsyncSession, caller: ServiceCaller, deal_id: str, stage_visit: int, target: Stage
) -> str | None:
    """Mark the unused override of this edge in this stage visit used; its id, or None."""
    row = (
        await session.execute(
            select(GateOverrideRow)
            .where(
                GateOverrideRow.org_id == caller.org_id,
                GateOverrideRow.deal_id == deal_id,
                GateOverrideRow.stage_visit == stage_visit,
                GateOverrideRow.target == target.value,
                GateOverrideRow.consumed_at.is_(None),
            )
            .order_by(GateOverrideRow.created_at)
            .limit(1)
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    row.consumed_at = utcnow()
    await session.flush()
    return row.id

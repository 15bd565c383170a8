"""Diligence checklists: instantiated from the deal's asset-class template when it enters ``psa``
(once: a re-trade back through ``loi`` keeps the items and their progress), then worked item by
item. Items are revised, never overwritten, so the checklist at any instant can be read back.

Who may change an item: admin, gp and analyst; an external party only the items assigned to
them, and only their status and artifact (waiving and reassigning are the deal team's calls).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.checklists import (
    Checklist,
    ChecklistCategory,
    ChecklistItem,
    ChecklistItemChange,
    ChecklistStatus,
)
from cornerstone.kernel.checklists.templates import template_for
from cornerstone.kernel.deals import repository as deals
from cornerstone.kernel.deals.state_machine import DEAL_TEAM
from cornerstone.kernel.events.service import append_event
from cornerstone.kernel.models import ArtifactRow, ChecklistItemRevisionRow, DealPartyRow, DealRow
from cornerstone.kit.canonical import canonical_json
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.ids import new_id
from cornerstone.kit.problems import Forbidden, NotFound, invalid_field
from cornerstone.kit.service_auth import ServiceCaller


class ChecklistItemNotFound(NotFound):
    """No checklist item with this id visible to the caller."""

    code = "CHECKLIST_ITEM_NOT_FOUND"
    title = "Checklist item not found"

    def __init__(self) -> None:
        super().__init__("No checklist item with this id.")


def to_contract(row: ChecklistItemRevisionRow) -> ChecklistItem:
    return ChecklistItem(
        id=row.item_id,
        deal_id=row.deal_id,
        code=row.code,
        category=ChecklistCategory(row.category),
        title=row.title,
        required=row.required,
        status=ChecklistStatus(row.status),
        reason=row.reason,
        owner_id=row.owner_id,
        due_date=row.due_date,
        artifact_id=row.artifact_id,
        revision=row.revision,
        updated_by=row.created_by,
        updated_at=as_utc(row.created_at),
    )


async def items_at(
    session: AsyncSession, caller: ServiceCaller, deal_id: str, at: datetime | None = None
) -> list[ChecklistItemRevisionRow]:
    """Each item's latest revision (as of ``at``, when given), in template order."""
    revisions = select(ChecklistItemRevisionRow.item_id, func.max(ChecklistItemRevisionRow.revision).label("revision"))
    revisions = revisions.where(
        ChecklistItemRevisionRow.org_id == caller.org_id, ChecklistItemRevisionRow.deal_id == deal_id
    )
    if at is not None:
        revisions = revisions.where(ChecklistItemRevisionRow.created_at <= at)
    latest = revisions.group_by(ChecklistItemRevisionRow.item_id).subquery()
    statement = (
        select(ChecklistItemRevisionRow)
        .join(
            latest,
            and_(
                ChecklistItemRevisionRow.item_id == latest.c.item_id,
                ChecklistItemRevisionRow.revision == latest.c.revision,
            ),
        )
        .where(ChecklistItemRevisionRow.org_id == caller.org_id)
        .order_by(ChecklistItemRevisionRow.position)
    )
    return list((await session.execute(statement)).scalars())


def open_required(items: list[ChecklistItemRevisionRow]) -> tuple[str, ...]:
    """Titles of the required items neither done nor waived."""
    return tuple(item.title for item in items if item.required and not ChecklistStatus(item.status).settled)


async def instantiate(session: AsyncSession, caller: ServiceCaller, deal: DealRow, psa_date: date) -> None:
    """Give the deal its checklist, unless it already has one. Items a deal role usually owns are
    assigned to the deal's (earliest) party of that role."""
    exists = await session.execute(
        select(ChecklistItemRevisionRow.id)
        .where(ChecklistItemRevisionRow.org_id == caller.org_id, ChecklistItemRevisionRow.deal_id == deal.id)
        .limit(1)
    )
    if exists.first() is not None:
        return
    parties = await session.execute(
        select(DealPartyRow.deal_role, DealPartyRow.user_id)
        .where(DealPartyRow.org_id == caller.org_id, DealPartyRow.deal_id == deal.id)
        .order_by(DealPartyRow.created_at.desc(), DealPartyRow.id.desc())
    )
    owner_of: dict[str, str] = dict(parties.all())  # the earliest party of a role is written last, wins
    template, items = template_for(deal.asset_class)
    now = utcnow()
    rows = [
        ChecklistItemRevisionRow(
            id=new_id(),
            org_id=caller.org_id,
            item_id=new_id(),
            deal_id=deal.id,
            revision=1,
            template=template,
            position=position,
            code=item.code,
            category=item.category.value,
            title=item.title,
            required=item.required,
            status=ChecklistStatus.OPEN.value,
            reason=None,
            owner_id=owner_of.get(item.party.value) if item.party else None,
            due_date=psa_date + timedelta(days=item.due_days),
            artifact_id=None,
            created_by=caller.actor_id,
            created_at=now,
        )
        for position, item in enumerate(items, start=1)
    ]
    session.add_all(rows)
    await session.flush()
    await append_event(
        session,
        caller,
        type="deal.checklist_instantiated",
        subject_type="deal",
        subject_id=deal.id,
        payload={
            "template": template,
            "items": len(rows),
            "required": sum(1 for row in rows if row.required),
            "psa_date": psa_date.isoformat(),
            "items_sha256": hashlib.sha256(canonical_json([row.code for row in rows]).encode()).hexdigest(),
        },
    )


async def read_checklist(session: AsyncSession, caller: ServiceCaller, deal_id: str) -> Checklist:
    deal = await deals.visible_deal(session, caller, deal_id)
    items = await items_at(session, caller, deal.id)
    return Checklist(template=items[0].template if items else None, items=[to_contract(row) for row in items])


async def _latest(session: AsyncSession, caller: ServiceCaller, item_id: str) -> ChecklistItemRevisionRow | None:
    return (
        await session.execute(
            select(ChecklistItemRevisionRow)
            .where(ChecklistItemRevisionRow.org_id == caller.org_id, ChecklistItemRevisionRow.item_id == item_id)
            .order_by(ChecklistItemRevisionRow.revision.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def update_item(
    session: AsyncSession, caller: ServiceCaller, item_id: str, body: ChecklistItemChange
) -> ChecklistItem:
    first = await _latest(session, caller, item_id)
    # Lock the deal before reading the item again: changes to one deal's evidence are serialized.
    if first is None or await deals.get_deal(session, caller, first.deal_id, for_update=True) is None:
        raise ChecklistItemNotFound()
    latest = await _latest(session, caller, item_id)
    assert latest is not None
    changes: dict[str, Any] = body.changes()
    if caller.actor_role not in DEAL_TEAM:
        if caller.actor_role != "external" or latest.owner_id != caller.actor_id:
            raise Forbidden("Only the deal team or the item's assigned party can change a checklist item.")
        if body.status == ChecklistStatus.WAIVED or "owner_id" in changes or "due_date" in changes:
            raise Forbidden("Waiving, reassigning and rescheduling an item are the deal team's decisions.")
    if changes.get("owner_id") is not None and body.owner_role == "external":
        party = await session.execute(
            select(DealPartyRow.id).where(
                DealPartyRow.org_id == caller.org_id,
                DealPartyRow.deal_id == latest.deal_id,
                DealPartyRow.user_id == changes["owner_id"],
            )
        )
        if party.first() is None:
            raise invalid_field(
                "body.owner_id", "an external user owns items only on deals they are party to", "checklist_item"
            )
    artifact_id = changes.get("artifact_id", latest.artifact_id)
    if "artifact_id" in changes and artifact_id is not None:
        artifact = await session.get(ArtifactRow, artifact_id)
        if artifact is None or artifact.org_id != caller.org_id or artifact.deal_id != latest.deal_id:
            raise invalid_field("body.artifact_id", "no such artifact on this deal", "checklist_item")
    due_date = date.fromisoformat(changes["due_date"]) if changes.get("due_date") else None
    after = {
        "status": body.status.value,
        "reason": body.reason,
        "owner_id": changes.get("owner_id", latest.owner_id),
        "due_date": due_date if "due_date" in changes else latest.due_date,
        "artifact_id": artifact_id,
    }
    if all(getattr(latest, name) == value for name, value in after.items()):
        return to_contract(latest)  # nothing would change: no revision, no event
    row = ChecklistItemRevisionRow(
        id=new_id(),
        org_id=caller.org_id,
        item_id=latest.item_id,
        deal_id=latest.deal_id,
        revision=latest.revision + 1,
        template=latest.template,
        position=latest.position,
        code=latest.code,
        category=latest.category,
        title=latest.title,
        required=latest.required,
        created_by=caller.actor_id,
        created_at=utcnow(),
        **after,
    )
    session.add(row)
    await session.flush()
    await append_event(
        session,
        caller,
        type="deal.checklist_item_updated",
        subject_type="deal",
        subject_id=row.deal_id,
        payload={
            "item_id": row.item_id,
            "code": row.code,
            "revision": row.revision,
            "status": row.status,
            "owner_id": row.owner_id,
            "due_date": row.due_date.isoformat() if row.due_date else None,
            "artifact_id": row.artifact_id,
            "reason_sha256": hashlib.sha256(row.reason.encode()).hexdigest() if row.reason else None,
        },
    )
    return to_contract(row)

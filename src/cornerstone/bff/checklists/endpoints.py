"""A deal's diligence checklist. The BFF owns users, so it checks that a new owner is an active
user of the org who can work an item (not an lp or auditor) before the kernel records it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy import select

from cornerstone.bff.audit.middleware import audited, note_change
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission, Role
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.bff.models import UserRow
from cornerstone.bff.sessions import ReadSession
from cornerstone.contracts.checklists import Checklist, ChecklistItem, ChecklistItemChange, ChecklistItemUpdate
from cornerstone.kit.problems import invalid_field

router = APIRouter(prefix="/api", tags=["checklists"])

Reader = Annotated[Principal, Depends(require(Permission.CHECKLIST_READ))]
Writer = Annotated[Principal, Depends(require(Permission.CHECKLIST_WRITE))]
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

ITEM_OWNERS = frozenset({Role.ADMIN, Role.GP, Role.ANALYST, Role.EXTERNAL})


@router.get("/deals/{deal_id}/checklist", response_model=Checklist)
async def read_checklist(deal_id: Id, user: Reader, kernel: Kernel) -> Any:
    """The deal's diligence items (empty until the deal enters `psa`), in template order."""
    return await kernel.request("GET", f"/deals/{deal_id}/checklist", user)


@router.patch(
    "/checklist-items/{item_id}",
    response_model=ChecklistItem,
    openapi_extra=audited("deal.checklist_item", "checklist_item"),
)
async def update_item(
    item_id: Id, body: ChecklistItemUpdate, request: Request, user: Writer, session: ReadSession, kernel: Kernel
) -> Any:
    """Change an item's status (waiving needs a `reason`), owner, due date or linked artifact."""
    change = ChecklistItemChange.model_validate(body.model_dump(exclude_unset=True))
    if body.owner_id is not None:
        owner = (
            await session.execute(select(UserRow).where(UserRow.org_id == user.org_id, UserRow.id == body.owner_id))
        ).scalar_one_or_none()
        if owner is None or not owner.active or owner.role not in ITEM_OWNERS:
            raise invalid_field(
                "body.owner_id", "not an active user of the org who can work diligence", "checklist_item"
            )
        change.owner_role = owner.role
    item = await kernel.request(
        "PATCH", f"/checklist-items/{item_id}", user, json=change.model_dump(mode="json", exclude_unset=True)
    )
    note_change(request, None, item)
    return item

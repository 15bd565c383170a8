"""The deal page's Checklist forms: one per diligence item (status, owner, due date, document,
and a reason when waiving). A client of the API's checklist route: the deal team changes any
item; an external party only the items assigned to them, and only their status and document
(waiving, reassigning and rescheduling are the deal team's; the kernel enforces it too)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.materials.pages import ObjectId, send_deal_form
from cornerstone.bff.web.session import CsrfChecked, PageUser

router = APIRouter(tags=["ui"], include_in_schema=False)

STATUSES = ("open", "in_review", "done", "waived")
# What an external party may set on their own items.
PARTY_STATUSES = ("open", "in_review", "done")
DEAL_TEAM_ROLES = frozenset({"admin", "gp", "analyst"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@router.post(
    "/deals/{deal_id}/checklist/{item_id}",
    dependencies=[CsrfChecked],
    openapi_extra=audited("deal.checklist_item", "checklist_item"),
)
async def update_item(
    request: Request,
    session: PageUser,
    deal_id: ObjectId,
    item_id: ObjectId,
    status: Annotated[str, Form(max_length=16)] = "",
    owner_id: Annotated[str, Form(max_length=64)] = "",
    due_date: Annotated[str, Form(max_length=10)] = "",
    artifact_id: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Change one checklist item from its form in the Checklist section."""
    team = session.user.role in DEAL_TEAM_ROLES
    values = {
        "item_id": item_id,
        "status": status,
        "owner_id": owner_id,
        "due_date": due_date,
        "artifact_id": artifact_id,
        "reason": reason,
    }
    errors: dict[str, str] = {}
    if status not in (STATUSES if team else PARTY_STATUSES):
        errors["status"] = "Choose a status."
    if status == "waived" and not reason.strip():
        errors["reason"] = "Give a reason to waive this item."
    if team and due_date and not _DATE.match(due_date):
        errors["due_date"] = "Give the date as YYYY-MM-DD."
    if team and owner_id and not _ID.match(owner_id):
        errors["owner_id"] = "Choose an owner from the list."
    if artifact_id and not _ID.match(artifact_id):
        errors["artifact_id"] = "Choose a document from the list."
    body: dict[str, Any] = {"status": status, "artifact_id": artifact_id or None}
    if status == "waived":
        body["reason"] = reason.strip()
    if team:
        # The same owner or date again changes nothing (no revision); an empty field clears it.
        body["owner_id"] = owner_id or None
        body["due_date"] = due_date or None
    return await send_deal_form(
        request,
        session,
        deal_id,
        "checklist",
        values,
        errors=errors,
        not_done="The item was not changed.",
        method="PATCH",
        path=f"/api/checklist-items/{item_id}",
        body=body,
        notice="checklist_updated",
    )

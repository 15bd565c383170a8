"""The deal page's Parties form: make an external user of the org a party to the deal (counsel,
lender, escrow, property manager). A client of the API's parties route (admin and gp); the API
checks that the user is an active external user of the org.

Only an admin may list the org's users (``GET /api/users``), so an admin picks the party from a
list of the org's external users, and a gp gives the user's id (an admin can read it on the
Users page): the page never shows a gp more than the API would."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.materials.pages import ObjectId, send_deal_form
from cornerstone.bff.web.session import CsrfChecked, PageUser

router = APIRouter(tags=["ui"], include_in_schema=False)

DEAL_ROLES = ("counsel", "lender", "escrow", "property_manager")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@router.post("/deals/{deal_id}/parties", dependencies=[CsrfChecked], openapi_extra=audited("deal.party_add", "deal"))
async def add_party(
    request: Request,
    session: PageUser,
    deal_id: ObjectId,
    user_id: Annotated[str, Form(max_length=64)] = "",
    deal_role: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Add a party from the Parties section's form."""
    values = {"user_id": user_id, "deal_role": deal_role}
    errors: dict[str, str] = {}
    if not user_id.strip():
        errors["user_id"] = "Choose the external user to add."
    elif not _ID.match(user_id.strip()):
        errors["user_id"] = "A user id is letters, digits, - and _ only."
    if deal_role not in DEAL_ROLES:
        errors["deal_role"] = "Choose the party's role on this deal."
    return await send_deal_form(
        request,
        session,
        deal_id,
        "parties",
        values,
        errors=errors,
        not_done="The party was not added.",
        method="POST",
        path=f"/api/deals/{deal_id}/parties",
        body={"user_id": user_id.strip(), "deal_role": deal_role},
        notice="party_added",
    )

"""The deal page's Overrides form (admin): a written attestation that lets one outgoing edge's
gate be passed once, in the current stage visit. A client of the API's overrides route."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.materials.pages import ObjectId, send_deal_form
from cornerstone.bff.web.session import CsrfChecked, PageUser

router = APIRouter(tags=["ui"], include_in_schema=False)

ATTESTATION_MIN = 20


@router.post("/deals/{deal_id}/overrides", dependencies=[CsrfChecked], openapi_extra=audited("deal.override", "deal"))
async def record_override(
    request: Request,
    session: PageUser,
    deal_id: ObjectId,
    to: Annotated[str, Form(max_length=32)] = "",
    attestation: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Record an override of the chosen edge's gate from the Overrides section's form."""
    values = {"to": to, "attestation": attestation}
    errors: dict[str, str] = {}
    if not to:
        errors["to"] = "Choose the move whose gate is overridden."
    if len(attestation.strip()) < ATTESTATION_MIN:
        errors["attestation"] = f"Write at least {ATTESTATION_MIN} characters: why the gate may be passed."
    return await send_deal_form(
        request,
        session,
        deal_id,
        "overrides",
        values,
        errors=errors,
        not_done="The override was not recorded.",
        method="POST",
        path=f"/api/deals/{deal_id}/overrides",
        body={"to": to, "attestation": attestation.strip()},
        notice="override_recorded",
    )

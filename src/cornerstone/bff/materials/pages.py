"""The deal page's Materials forms: add a material (or the next revision of one) and verify an
AI-extracted one. Each is a client of the API's materials routes, so the truth-class rules (DOC
needs a stored document, AI comes only from the AI module) are the API's own.

Also the few helpers every evidence section's forms share: a form refused before it reaches the
API is shown the same way as one the API refused, inside its own section of the deal page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from starlette.responses import Response

from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.web.api import ApiProblem
from cornerstone.bff.web.forms import for_form, form_problem
from cornerstone.bff.web.session import CsrfChecked, PageUser, Session
from cornerstone.bff.web.templating import redirect

router = APIRouter(tags=["ui"], include_in_schema=False)

ObjectId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

# The select's choice that means "the type written in the text field".
OTHER_TYPE = "__other"
TRUTH_CLASSES = ("DOC", "HUMAN")
_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


async def show_problem(
    request: Request,
    session: Session,
    deal_id: str,
    problem: ApiProblem,
    section: str,
    form_values: Mapping[str, Any] | None = None,
) -> Response:
    """The deal page again, with ``problem`` shown in ``section`` and the form as it was sent;
    the page's status is the problem's (a 503 stays a 503). A refusal no form can answer (no
    session, a role the API refuses, an object it does not find) is raised instead, for the
    sign-in, 403 or 404 page."""
    from cornerstone.bff.deals.pages import render_deal_page

    for_form(problem)

    return await render_deal_page(
        request,
        session,
        deal_id,
        problem=problem,
        problem_section=section,
        status_code=problem.status,
        form_values=dict(form_values or {}),
    )


def material_type_of(choice: str, other: str) -> str:
    """The material type the form names: the select's choice, or the text written under "Other"
    as a machine name (``Environmental report`` -> ``environmental_report``)."""
    if choice and choice != OTHER_TYPE:
        return choice.strip()
    return re.sub(r"[\s-]+", "_", other.strip().lower())


async def send_deal_form(
    request: Request,
    session: Session,
    deal_id: str,
    section: str,
    values: Mapping[str, Any],
    *,
    errors: Mapping[str, str],
    not_done: str,
    method: str,
    path: str,
    body: Mapping[str, Any],
    notice: str,
) -> Response:
    """A deal-page form's submission: with ``errors`` (found by the page) nothing is sent and the
    form comes back with them under ``not_done``; otherwise ``body`` goes to the API, a refusal
    comes back at the form's section (``show_problem``), and success goes back to that section
    with ``notice``."""
    if errors:
        return await show_problem(request, session, deal_id, form_problem(errors, not_done), section, values)
    try:
        await session.api.send(method, path, json=dict(body))
    except ApiProblem as problem:
        return await show_problem(request, session, deal_id, problem, section, values)
    return redirect(f"/deals/{deal_id}?notice={notice}#{section}")


def note_data(details: str) -> dict[str, str]:
    text = details.strip()
    return {"note": text} if text else {}


@router.post("/deals/{deal_id}/materials", dependencies=[CsrfChecked], openapi_extra=audited("deal.material", "deal"))
async def add_material(
    request: Request,
    session: PageUser,
    deal_id: ObjectId,
    material_type: Annotated[str, Form(max_length=64)] = "",
    other_type: Annotated[str, Form(max_length=64)] = "",
    truth_class: Annotated[str, Form(max_length=8)] = "",
    artifact_id: Annotated[str, Form(max_length=64)] = "",
    details: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    """Add a material (a revision, if the deal has one of that type) from the Materials form."""
    values = {
        "material_type": material_type,
        "other_type": other_type,
        "truth_class": truth_class,
        "artifact_id": artifact_id,
        "details": details,
    }
    kind = material_type_of(material_type, other_type)
    errors: dict[str, str] = {}
    if not kind:
        errors["other_type" if material_type == OTHER_TYPE else "material_type"] = "Choose or write a material type."
    elif not _TYPE_NAME.match(kind):
        errors["other_type" if material_type == OTHER_TYPE else "material_type"] = (
            "Use letters, digits and spaces only, starting with a letter (e.g. environmental report)."
        )
    if truth_class not in TRUTH_CLASSES:
        errors["truth_class"] = "Choose DOC (backed by a document) or HUMAN (attested by you)."
    elif truth_class == "DOC" and not artifact_id:
        errors["artifact_id"] = "A DOC material needs a document: upload it under Documents, then choose it here."
    body: dict[str, Any] = {"type": kind, "truth_class": truth_class, "data": note_data(details)}
    if artifact_id:
        body["artifact_id"] = artifact_id
    return await send_deal_form(
        request,
        session,
        deal_id,
        "materials",
        values,
        errors=errors,
        not_done="The material was not added.",
        method="POST",
        path=f"/api/deals/{deal_id}/materials",
        body=body,
        notice="material_added",
    )


@router.post(
    "/deals/{deal_id}/materials/{material_id}/verify",
    dependencies=[CsrfChecked],
    openapi_extra=audited("material.verify", "material"),
)
async def verify_material(request: Request, session: PageUser, deal_id: ObjectId, material_id: ObjectId) -> Response:
    """Promote an AI-extracted material to HUMAN: the signed-in user vouches for it."""
    try:
        await session.api.send("POST", f"/api/materials/{material_id}/verify")
    except ApiProblem as problem:
        return await show_problem(request, session, deal_id, problem, "materials")
    return redirect(f"/deals/{deal_id}?notice=material_verified#materials")

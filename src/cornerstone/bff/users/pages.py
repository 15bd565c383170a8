"""The users page (``/admin/users``): who has access to the org, with which role, and the forms
that add a user, change a role, and deactivate or reactivate someone. A client of ``/api/users``
(admin only: any other role gets the API's 403, shown as the 403 page); a role change or a
deactivation ends every token the user holds, so their sessions end at once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.datastructures import Headers
from starlette.responses import Response

from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.authz.permissions import Role
from cornerstone.bff.web.api import ApiAnswer, ApiProblem
from cornerstone.bff.web.forms import for_form, form_problem, unless_refused
from cornerstone.bff.web.session import CsrfChecked, PageUser, Session
from cornerstone.bff.web.templating import label, redirect, render

router = APIRouter(tags=["ui"], include_in_schema=False)

UserId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ROLES = tuple(role.value for role in Role)
_NOTICES = {
    "created": "User created.",
    "role": "Role changed. The user's sessions have ended; they sign in again with the new role.",
    "deactivated": "User deactivated. Every session of theirs has ended and they can no longer sign in.",
    "reactivated": "User reactivated. They can sign in again.",
}
# How many investors the form offers at most (the API's pages are read until then).
_INVESTOR_CAP = 2000
# The title of a problem the admin pages find in a form themselves.
NOT_SAVED = "Not saved"


def sentence(message: str) -> str:
    """A validation message as a sentence: ``Value error, must be ...`` -> ``Must be ...``."""
    text = message.removeprefix("Value error, ").strip()
    return text[:1].upper() + text[1:]


def _with_field(problem: ApiProblem, name: str, message: str) -> ApiProblem:
    body = dict(problem.body)
    body["errors"] = [*(body.get("errors") or []), {"field": f"body.{name}", "message": message}]
    body.setdefault("request_id", problem.request_id)
    return ApiProblem(ApiAnswer(problem.status, Headers(), json.dumps(body).encode()))


def _readable(problem: ApiProblem) -> ApiProblem:
    """The API's problem with its field messages as sentences, and a taken email named on its field."""
    body = dict(problem.body)
    errors = body.get("errors")
    if isinstance(errors, list):
        body["errors"] = [
            {**e, "message": sentence(str(e.get("message", "")))} if isinstance(e, dict) else e for e in errors
        ]
    body.setdefault("request_id", problem.request_id)
    readable = ApiProblem(ApiAnswer(problem.status, Headers(), json.dumps(body).encode()))
    if problem.code == "EMAIL_TAKEN":
        return _with_field(readable, "email", "A user with this email already exists.")
    return readable


async def _users_page(
    request: Request,
    session: Session,
    *,
    notice: str | None = None,
    problem: ApiProblem | None = None,
    form: Mapping[str, str] | None = None,
    row_problem: tuple[str, ApiProblem] | None = None,
    status_code: int = 200,
) -> Response:
    users = (await session.api.get("/api/users"))["items"]
    investors = await session.api.get_all("/api/investors", cap=_INVESTOR_CAP)
    names = {investor["id"]: investor["name"] for investor in investors}
    by_name = sorted(((i["id"], i["name"]) for i in investors), key=lambda option: option[1].lower())
    investor_options = [("", "None (not an LP)"), *by_name]
    return render(
        request,
        "admin/users.html",
        {
            "users": sorted(users, key=lambda u: (not u["active"], u["email"])),
            "investor_names": names,
            "investor_options": investor_options,
            "role_options": [(role, label(role)) for role in ROLES],
            "notice": _NOTICES.get(notice or ""),
            "problem": problem,
            "form": {"email": "", "role": "analyst", "investor_id": "", **(form or {})},
            "row_problem": row_problem,
        },
        user=session.user,
        status_code=status_code,
        title="Users",
    )


@router.get("/admin/users")
async def users_page(
    request: Request, session: PageUser, notice: Annotated[str | None, Query(max_length=32)] = None
) -> Response:
    return await _users_page(request, session, notice=notice)


@router.post("/admin/users", dependencies=[CsrfChecked], openapi_extra=audited("user.create", "user"))
async def create_user(
    request: Request,
    session: PageUser,
    email: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    investor_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    form = {"email": email.strip()[:254], "role": role, "investor_id": investor_id}
    errors: dict[str, str] = {}
    if not email.strip():
        errors["email"] = "Enter the user's email address."
    if role not in ROLES:
        errors["role"] = "Choose a role."
    if role == Role.LP and not investor_id:
        errors["investor_id"] = "Choose the investor this LP user sees."
    if errors:
        problem = form_problem(errors, "Check the fields marked below.", title=NOT_SAVED)
        return await _users_page(request, session, problem=problem, form=form, status_code=422)
    body: dict[str, Any] = {"email": email.strip(), "role": role}
    if password:
        body["password"] = password
    if role == Role.LP:
        body["investor_id"] = investor_id
    try:
        await session.api.send("POST", "/api/users", json=body)
    except ApiProblem as problem:
        return await _users_page(
            request, session, problem=_readable(unless_refused(problem)), form=form, status_code=problem.status
        )
    return redirect("/admin/users?notice=created#main")  # not the form the post came from


async def _update(request: Request, session: Session, user_id: str, change: dict[str, Any], notice: str) -> Response:
    try:
        await session.api.send("PATCH", f"/api/users/{user_id}", json=change)
    except ApiProblem as problem:
        readable = _readable(for_form(problem))
        return await _users_page(request, session, row_problem=(user_id, readable), status_code=problem.status)
    return redirect(f"/admin/users?notice={notice}#main")


@router.post("/admin/users/{user_id}/role", dependencies=[CsrfChecked], openapi_extra=audited("user.update", "user"))
async def change_role(
    request: Request, session: PageUser, user_id: UserId, role: Annotated[str, Form(max_length=32)] = ""
) -> Response:
    if role not in ROLES:
        problem = form_problem({"role": "Choose a role."}, "Choose one of the roles.", title=NOT_SAVED)
        return await _users_page(request, session, row_problem=(user_id, problem), status_code=422)
    if role == Role.LP:
        # An LP user sees one investor's data; the link is made when the user is created.
        users = (await session.api.get("/api/users"))["items"]
        target = next((u for u in users if u["id"] == user_id), None)
        if target is not None and not target["investor_id"]:
            problem = form_problem(
                {"role": "An LP user needs an investor: add a new user with the LP role and their investor."},
                "This user has no investor to see.",
                title=NOT_SAVED,
            )
            return await _users_page(request, session, row_problem=(user_id, problem), status_code=422)
    return await _update(request, session, user_id, {"role": role}, "role")


@router.post(
    "/admin/users/{user_id}/deactivate", dependencies=[CsrfChecked], openapi_extra=audited("user.update", "user")
)
async def deactivate(request: Request, session: PageUser, user_id: UserId) -> Response:
    return await _update(request, session, user_id, {"active": False}, "deactivated")


@router.post(
    "/admin/users/{user_id}/reactivate", dependencies=[CsrfChecked], openapi_extra=audited("user.update", "user")
)
async def reactivate(request: Request, session: PageUser, user_id: UserId) -> Response:
    return await _update(request, session, user_id, {"active": True}, "reactivated")

"""Sign-in, sign-out and the account page. Each is a client of the API's own auth routes
(``/api/auth/token``, ``/api/auth/logout``, ``/api/auth/password``): the same credential checks,
login throttling and audit records as any API client gets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.auth.dependencies import authenticate
from cornerstone.bff.csrf import SESSION_COOKIE
from cornerstone.bff.web.api import ApiProblem, PageApi
from cornerstone.bff.web.session import (
    CsrfChecked,
    PageUser,
    clear_session_cookies,
    safe_next,
    set_session_cookies,
)
from cornerstone.bff.web.templating import home_for, redirect, render
from cornerstone.kit.problems import Unauthorized

router = APIRouter(tags=["ui"], include_in_schema=False)

_NOTICES = {"password": "Your password was changed. Every other session of yours has ended."}


@router.get("/")
async def start(request: Request) -> Response:
    """The start page: your home if you are signed in, the sign-in page otherwise."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            user = await authenticate(request, token)
        except Unauthorized:
            return redirect("/login")
        return redirect(home_for(user.role))
    return redirect("/login")


@router.get("/login")
async def login_form(
    request: Request,
    next_path: Annotated[str | None, Query(alias="next", max_length=2048)] = None,
    expired: Annotated[str | None, Query(max_length=8)] = None,
    signed_out: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    return render(
        request,
        "auth/login.html",
        {
            "email": "",
            "next": safe_next(next_path),
            "expired": bool(expired),
            "signed_out": bool(signed_out),
            "error": None,
        },
        title="Sign in",
    )


@router.post("/login", dependencies=[CsrfChecked], openapi_extra=audited("auth.login", "user"))
async def login(
    request: Request,
    email: Annotated[str, Form(max_length=1024)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "",
) -> Response:
    api = PageApi(request, token=None)
    answer = await api.call(
        "POST",
        "/api/auth/token",
        body=_json({"email": email, "password": password}),
        content_type="application/json",
    )
    if answer.ok:
        body = answer.json()
        user = await authenticate(request, body["access_token"])
        response = redirect(safe_next(next_path) or home_for(user.role))
        set_session_cookies(request, response, body["access_token"], int(body["expires_in"]))
        return response
    problem = ApiProblem(answer)
    if problem.status == 429:
        message, status = "Too many sign-in attempts. Wait a minute and try again.", 429
    elif problem.status in (401, 422):
        message, status = "Email or password is incorrect.", 401
    elif problem.status >= 500:
        message, status = "Cornerstone cannot sign you in right now. Try again in a moment.", 503
    else:
        message, status = "This sign-in form could not be read. Reload the page and try again.", 400
    page = render(
        request,
        "auth/login.html",
        {
            "email": email[:254],
            "next": safe_next(next_path),
            "expired": False,
            "signed_out": False,
            "error": message,
            "problem_request_id": problem.request_id,
        },
        status_code=status,
        title="Sign in",
    )
    if problem.retry_after:
        page.headers["Retry-After"] = problem.retry_after
    return page


@router.post("/logout", dependencies=[CsrfChecked], openapi_extra=audited("auth.logout", "user"))
async def logout(request: Request) -> Response:
    """Sign out: the session's token is revoked (so a copied cookie is worthless) and the cookies go."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await PageApi(request, token).call("POST", "/api/auth/logout", body=b"")
    response = redirect("/login?signed_out=1")
    clear_session_cookies(response)
    return response


@router.get("/account")
async def account(
    request: Request, session: PageUser, notice: Annotated[str | None, Query(max_length=32)] = None
) -> Response:
    return render(
        request,
        "auth/account.html",
        {"notice": _NOTICES.get(notice or ""), "problem": None, "session_expires": _session_expiry(request)},
        user=session.user,
        title="Your account",
    )


@router.post("/account/password", dependencies=[CsrfChecked], openapi_extra=audited("auth.password_change", "user"))
async def change_password(
    request: Request,
    session: PageUser,
    current_password: Annotated[str, Form(max_length=4096)] = "",
    new_password: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    try:
        body = await session.api.send(
            "POST",
            "/api/auth/password",
            json={"current_password": current_password, "new_password": new_password},
        )
    except ApiProblem as problem:
        return render(
            request,
            "auth/account.html",
            {"notice": None, "problem": problem, "session_expires": _session_expiry(request)},
            user=session.user,
            status_code=problem.status if problem.status < 500 else 503,
            title="Your account",
        )
    response = redirect("/account?notice=password")
    set_session_cookies(request, response, body["access_token"], int(body["expires_in"]))
    return response


def _session_expiry(request: Request) -> object:
    claims = getattr(request.state, "token_claims", None)
    return getattr(claims, "expires_at", None)


def _json(value: object) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":")).encode()

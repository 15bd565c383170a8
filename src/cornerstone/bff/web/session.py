"""The web UI's session: who is signed in (``PageUser``), the CSRF proof of every form
(``CsrfChecked``), and the two cookies.

- ``cs_session`` holds the user's access token (the same kind the API's bearer clients use,
  checked the same way on every request: signature, expiry, active user, token version,
  revocation). HttpOnly, so no page script can read it; SameSite=Lax; Secure under HTTPS.
- ``cs_csrf`` is a random token a page copies into each form's hidden ``csrf_token`` field
  (double submit). It is set when a page is rendered, before sign-in too (the sign-in form is
  protected against login CSRF the same way).

A page request without a valid session is sent to ``/login`` (with ``next=`` the page, a path
of this site only); one whose session expired or was revoked also loses its cookie.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Form, Request
from starlette.datastructures import Headers
from starlette.responses import Response

from cornerstone.bff.auth.dependencies import Principal, authenticate
from cornerstone.bff.csrf import CSRF_COOKIE, SESSION_COOKIE, origin_refusal
from cornerstone.bff.web.api import PageApi
from cornerstone.kit.problems import Unauthorized

CSRF_FIELD = "csrf_token"
_CSRF_STATE = "csrf_token"


class SignInRequired(Exception):
    """A page needs a signed-in user: answered with a redirect to ``/login``."""

    def __init__(self, next_path: str, *, expired: bool) -> None:
        self.next_path = next_path
        self.expired = expired
        super().__init__(next_path)

    def location(self) -> str:
        query = f"next={quote(self.next_path, safe='/')}" if self.next_path not in ("", "/") else ""
        if self.expired:
            query = f"{query}&expired=1" if query else "expired=1"
        return "/login" + (f"?{query}" if query else "")


class CsrfRefused(Exception):
    """A form post without the proofs that it came from one of our pages: the 403 page."""


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path of this site (``/deals/x?y``), else None: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@dataclass(frozen=True, slots=True)
class Session:
    """The signed-in user of a page request, and the API as that user."""

    user: Principal
    api: PageApi


async def page_session(request: Request) -> Session:
    token = request.cookies.get(SESSION_COOKIE)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not token:
        raise SignInRequired(target if request.method == "GET" else "/", expired=False)
    try:
        user = await authenticate(request, token)
    except Unauthorized:
        raise SignInRequired(target if request.method == "GET" else "/", expired=True) from None
    return Session(user=user, api=PageApi(request, token))


PageUser = Annotated[Session, Depends(page_session)]


async def signed_in_user(request: Request) -> Principal | None:
    """The signed-in user, if any, for pages that show to everyone (errors): never redirects."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return await authenticate(request, token)
    except Unauthorized:
        return None


def csrf_token(request: Request) -> str:
    """This request's CSRF token: the cookie's, or a new one (set on the response by ``render``)."""
    existing = getattr(request.state, _CSRF_STATE, None)
    if existing:
        return str(existing)
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    setattr(request.state, _CSRF_STATE, token)
    return token


def csrf_cookie_needed(request: Request) -> bool:
    return request.cookies.get(CSRF_COOKIE) != csrf_token(request)


def check_form_token(request: Request, token: str | None) -> None:
    """The form's ``csrf_token`` equals the ``cs_csrf`` cookie (``CsrfRefused`` otherwise)."""
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not token or not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise CsrfRefused()


async def check_origin(request: Request) -> None:
    """The post comes from this site (``Origin``, else ``Referer``), or an allowed origin."""
    allowed: frozenset[str] = getattr(request.app.state, "allowed_origins", frozenset())
    if origin_refusal(request.scope, Headers(scope=request.scope), allowed) is not None:
        raise CsrfRefused()


async def check_csrf(request: Request, csrf_token: Annotated[str, Form(max_length=256)] = "") -> None:
    """Every unsafe page route depends on this (or, for an upload, on ``check_origin_before_body``):
    the form's token equals the ``cs_csrf`` cookie and the post comes from this site."""
    check_form_token(request, csrf_token)
    await check_origin(request)


async def check_origin_before_body(request: Request) -> None:
    """For the one form that carries a file: the origin is checked before a byte of the body is read
    (with the session, ``PageUser``), and the route checks the token with ``check_form_token`` once
    it has parsed the form. A body as large as an artifact is never read for a stranger."""
    await check_origin(request)


CsrfChecked = Depends(check_csrf)
OriginCheckedBeforeBody = Depends(check_origin_before_body)


def set_session_cookies(request: Request, response: Response, access_token: str, max_age: int) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE, access_token, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax"
    )
    # A fresh CSRF token for the new session: one known before sign-in is not reused after it.
    fresh = secrets.token_urlsafe(32)
    setattr(request.state, _CSRF_STATE, fresh)
    response.set_cookie(CSRF_COOKIE, fresh, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax")


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")

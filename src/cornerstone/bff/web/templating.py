"""Rendering pages: one Jinja2 environment (autoescaped), the layout's context, the filters
that show amounts, dates and ratios, and the navigation each role sees."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse

from cornerstone import __version__
from cornerstone.bff.audit.middleware import note_audit
from cornerstone.bff.auth.dependencies import Principal
from cornerstone.bff.authz.permissions import Permission, allows
from cornerstone.bff.csrf import CSRF_COOKIE
from cornerstone.bff.web.api import DELEGATED_STATE_KEY
from cornerstone.bff.web.session import csrf_cookie_needed, csrf_token
from cornerstone.kit.amounts import example, format_amount, format_major
from cornerstone.kit.request_context import current_request_id

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _static_digest() -> str:
    """A digest of every static file: their URLs carry it, so browsers may cache them for good and
    still fetch a changed file at once (a new digest is a new URL)."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


STATIC_DIGEST = _static_digest()


def static_url(name: str) -> str:
    return f"/static/{name}?v={STATIC_DIGEST}"


@dataclass(frozen=True, slots=True)
class NavLink:
    label: str
    href: str
    permission: Permission


# What the top navigation offers, each shown only to the roles the API would serve it to.
NAVIGATION: tuple[NavLink, ...] = (
    NavLink("Pipeline", "/deals", Permission.DEALS_READ),
    NavLink("Funds", "/funds", Permission.FUNDS_READ),
    NavLink("Investors", "/investors", Permission.INVESTORS_READ),
    NavLink("Portfolio", "/portfolio", Permission.PORTFOLIO_READ),
    NavLink("Users", "/admin/users", Permission.USERS_READ),
    NavLink("Settings", "/admin/settings", Permission.ORG_SETTINGS_WRITE),
    NavLink("Audit trail", "/admin/audit", Permission.AUDIT_READ),
    NavLink("Status", "/admin/status", Permission.DEBUG_READ),
)


def home_for(role: str) -> str:
    """Where a user lands after sign-in: the portfolio for an lp, the pipeline for everyone else."""
    return "/portfolio" if role == "lp" else "/deals"


def money(amount: int | None, currency: str | None) -> str:
    if amount is None:
        return "—"
    return format_amount(int(amount), currency or "USD")


def major(amount: int | None, currency: str | None) -> str:
    if amount is None:
        return ""
    return format_major(int(amount), currency or "USD")


def ratio(value: str | None, places: int = 2, suffix: str = "x") -> str:
    """A decimal string (``"1.2345"``) as a multiple (``"1.23x"``); a dash when undefined."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return "—"
    return f"{number:.{places}f}{suffix}"


def percent(value: str | None, places: int = 1) -> str:
    """A decimal rate (``"0.0812"``) as a percentage (``"8.1%"``); a dash when undefined."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value)) * 100
    except InvalidOperation:
        return "—"
    return f"{number:.{places}f}%"


def when(value: str | datetime | date | None) -> str:
    """An RFC 3339 instant as ``2026-05-01 12:00 UTC``; a date as itself."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if len(text) <= 10:
        return parsed.date().isoformat()
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


# Words people use for a few machine names; every other one is spelled out by ``label``.
_WORDS = {
    "ic_review": "IC review",
    "loi": "LOI",
    "psa": "PSA",
    "gp": "GP",
    "lp": "LP",
    "mixed_use": "Mixed use",
    "noi": "NOI",
    "irr": "IRR",
    "nav": "NAV",
}


def label(value: str | None) -> str:
    """A machine name as words: ``due_diligence`` -> ``Due diligence``, ``ic_review`` -> ``IC review``,
    ``gp`` -> ``GP``. Stage names in buttons use it too: **Move to Due diligence**."""
    if not value:
        return "—"
    if str(value) in _WORDS:
        return _WORDS[str(value)]
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]


environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
environment.filters.update(money=money, major=major, ratio=ratio, percent=percent, when=when, label=label)
environment.globals.update(
    version=__version__, allows=allows, Permission=Permission, static_url=static_url, amount_example=example
)


def today() -> str:
    """Today's date in UTC as ``YYYY-MM-DD``: what a due date (an API ``date``) is compared with."""
    from datetime import UTC

    return datetime.now(UTC).date().isoformat()


environment.globals["today"] = today


_REFUSAL_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
}


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    user: Principal | None = None,
    status_code: int = 200,
    title: str | None = None,
) -> HTMLResponse:
    """The page ``template`` in the layout: navigation for ``user``'s role, the CSRF token every
    form carries, the request id in the footer."""
    token = csrf_token(request)
    values: dict[str, Any] = {
        "request": request,
        "user": user,
        "nav": [link for link in NAVIGATION if user is not None and allows(link.permission, user.role)],
        "current_path": request.url.path,
        "csrf_token": token,
        "request_id": current_request_id() or "",
        "page_title": title,
        **(context or {}),
    }
    # A form the page refused before it reached the API: its audit record says why.
    if (
        status_code >= 400
        and request.method not in ("GET", "HEAD")
        and not getattr(request.state, DELEGATED_STATE_KEY, False)
        and not getattr(request.state, "audit", {}).get("error_code")
    ):
        note_audit(request, error_code=_REFUSAL_CODES.get(status_code, "REFUSED"))
    html = environment.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code)
    if csrf_cookie_needed(request):
        response.set_cookie(
            CSRF_COOKIE, token, path="/", secure=request.url.scheme == "https", httponly=True, samesite="lax"
        )
    return response


def redirect(location: str) -> RedirectResponse:
    """POST-redirect-GET: 303 to ``location`` (a path of this site)."""
    return RedirectResponse(location, status_code=303)

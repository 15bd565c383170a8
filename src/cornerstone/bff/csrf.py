"""CSRF protection for the web UI's cookie sessions (double-submit token plus an origin check).

A browser attaches cookies to a cross-site request on its own; it never attaches an
``Authorization`` header. So only an unsafe request (POST, PUT, PATCH, DELETE) that carries the
session cookie ``cs_session`` and no ``Authorization`` header is checked, and it must:

- send ``X-CSRF-Token`` equal to the ``cs_csrf`` cookie (a page of another site can neither read
  that cookie nor set the header), and
- come from this site: ``Origin`` (or, when a browser sends none, the origin of ``Referer``)
  equal to the request's own origin or one on the CORS allow-list.

Anything else is a 403 problem with code ``CSRF_FAILED``. Bearer-token clients are unaffected.

The web UI's pages (every path outside ``/api/``) post plain HTML forms, which cannot set a
header: each unsafe page route checks the same two proofs itself, the token coming in the form
field ``csrf_token`` (``bff.web.session.CsrfChecked``; a test walks every page route for it).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from cornerstone.kit.cors import normalise_origin
from cornerstone.kit.problems import Forbidden, app_error_response
from cornerstone.kit.route_lookup import annotate_route

SESSION_COOKIE = "cs_session"
CSRF_COOKIE = "cs_csrf"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfFailed(Forbidden):
    """A cookie-session request that changes something without the proof it comes from this site (the ``X-CSRF-Token``
    matching the ``cs_csrf`` cookie, and this site's ``Origin``): reload the page and submit again."""

    code = "CSRF_FAILED"
    title = "Cross-site request refused"


class CsrfMiddleware:
    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(filter(None, (normalise_origin(origin) for origin in allowed_origins)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS and scope["path"].startswith("/api/"):
            headers = Headers(scope=scope)
            if "authorization" not in headers and "cookie" in headers:
                cookies = cookie_parser(headers["cookie"])
                if SESSION_COOKIE in cookies:
                    reason = self._refusal(scope, headers, cookies)
                    if reason is not None:
                        annotate_route(scope)
                        await app_error_response(CsrfFailed(reason))(scope, receive, send)
                        return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: Headers, cookies: dict[str, str]) -> str | None:
        return token_refusal(headers.get(CSRF_HEADER, ""), cookies) or origin_refusal(scope, headers, self.allowed)


def token_refusal(token: str, cookies: dict[str, str]) -> str | None:
    """Why ``token`` does not prove the request came from a page of ours (None if it does)."""
    expected = cookies.get(CSRF_COOKIE, "")
    if not token or not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        return "A cookie-authenticated change needs an X-CSRF-Token header equal to the cs_csrf cookie."
    return None


def origin_refusal(scope: Scope, headers: Headers, allowed: frozenset[str]) -> str | None:
    """Why the request's ``Origin`` (or ``Referer``) is not this site or an allowed origin (None if it is)."""
    origin = headers.get("origin")
    if origin is None or origin == "null":
        origin = headers.get("referer")
    if origin is None:
        return "A cookie-authenticated change must say where it comes from (Origin or Referer)."
    claimed = normalise_origin(origin)
    own = normalise_origin(f"{scope.get('scheme', 'http')}://{headers.get('host', '')}")
    if claimed is None or (claimed != own and claimed not in allowed):
        return "A cookie-authenticated change must come from this site or an allowed origin."
    return None

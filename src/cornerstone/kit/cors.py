"""CORS, closed by default: only origins on an explicit allow-list may call the API from a browser.

A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered here:
204 with the ``Access-Control-Allow-*`` fields for an allowed origin, a 403 problem for any other
(so the browser never sends the real request). Other requests pass through; those from an allowed
origin get ``Access-Control-Allow-Origin`` (with credentials) and the response fields a client
needs exposed (rate limits, request id), errors included. No wildcard: the allow-list is exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cornerstone.kit.problems import Forbidden, app_error_response

ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ALLOWED_HEADERS = (
    "authorization",
    "content-type",
    "idempotency-key",
    "x-request-id",
    "x-csrf-token",
)
EXPOSED_HEADERS = (
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "X-Request-ID",
    "Idempotency-Replayed",
    "WWW-Authenticate",
)
PREFLIGHT_MAX_AGE = 600
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(value: str) -> str | None:
    """``scheme://host[:port]`` as a browser serialises an origin (lower case, default port omitted)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class CorsOriginNotAllowed(Forbidden):
    """A browser request from an origin not on the CORS allow-list, or a cross-origin preflight asking for a method or
    header the API does not allow."""

    code = "CORS_ORIGIN_NOT_ALLOWED"
    title = "Origin not allowed"


class CORSMiddleware:
    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(filter(None, (normalise_origin(origin) for origin in allowed_origins)))
        self._allow_methods = ", ".join(ALLOWED_METHODS)
        self._allow_headers = ", ".join(ALLOWED_HEADERS)
        self._expose = ", ".join(EXPOSED_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = normalise_origin(origin) in self.allowed
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(scope, receive, send, origin, allowed, headers)
            return
        if not allowed:
            await self.app(scope, receive, _vary_origin(send))
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["Access-Control-Allow-Origin"] = origin
                response_headers["Access-Control-Allow-Credentials"] = "true"
                response_headers["Access-Control-Expose-Headers"] = self._expose
                response_headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, origin: str, allowed: bool, headers: Headers
    ) -> None:
        method = headers["access-control-request-method"].strip().upper()
        requested = [h.strip().lower() for h in headers.get("access-control-request-headers", "").split(",")]
        requested = [h for h in requested if h]
        if not allowed:
            response = app_error_response(CorsOriginNotAllowed("This origin may not call the API from a browser."))
        elif method not in ALLOWED_METHODS or any(h not in ALLOWED_HEADERS for h in requested):
            response = app_error_response(
                CorsOriginNotAllowed("The method or a header of this cross-origin request is not allowed.")
            )
        else:
            response = Response(status_code=204)
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Allow-Methods"] = self._allow_methods
            response.headers["Access-Control-Allow-Headers"] = self._allow_headers
            response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
        response.headers.append("Vary", "Origin")
        await response(scope, receive, send)


def _vary_origin(send: Send) -> Send:
    """Responses differ by ``Origin``: say so, so a shared cache never serves one origin's answer to another."""

    async def send_with_vary(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).add_vary_header("Origin")
        await send(message)

    return send_with_vary

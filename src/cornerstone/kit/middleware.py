"""Pure ASGI middleware used by both services."""

from __future__ import annotations

import time
from collections.abc import Iterable

import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cornerstone.kit.problems import problem_code_var, problem_response
from cornerstone.kit.recent_errors import RECENT_ERRORS
from cornerstone.kit.request_context import (
    REQUEST_ID_HEADER,
    accept_or_new_request_id,
    request_id_var,
    request_scope_var,
)
from cornerstone.kit.tracing import TRACEPARENT_HEADER, accept_or_new_trace, trace_var

log = structlog.get_logger("cornerstone.http")


def loggable_path(scope: Scope) -> str | None:
    """The path as its route template (``/api/deals/{deal_id}``): ids in a URL may be anything a
    client typed, a tax id included, so they stay out of the logs. None when no route matched."""
    params: dict[str, object] = scope.get("path_params") or {}
    if "route" not in scope and not params:
        return None
    by_value = {str(value): name for name, value in params.items()}
    return "/".join(f"{{{by_value[part]}}}" if part in by_value else part for part in scope["path"].split("/"))


_REQUEST_ID_RAW = REQUEST_ID_HEADER.lower().encode()
_TRACEPARENT_RAW = TRACEPARENT_HEADER.lower().encode()
_CONTEXT_HEADERS = frozenset({_REQUEST_ID_RAW, _TRACEPARENT_RAW})


class RequestContextMiddleware:
    """Outermost layer: request id and trace context in and out, one access log line, and a problem
    body for crashes.

    An exception no handler caught becomes a 500 problem with no internals in the body; the
    stack trace goes to the log with the request id. Every 5xx answer is also kept in the recent
    errors buffer (``kit.recent_errors``) for ``/api/debug/errors``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        request_id = accept_or_new_request_id(request_headers.get(REQUEST_ID_HEADER))
        trace = accept_or_new_trace(request_headers.get(TRACEPARENT_HEADER))
        tokens = (
            request_id_var.set(request_id),
            trace_var.set(trace),
            request_scope_var.set(scope),
            problem_code_var.set({}),
        )
        # An in-process call (the web UI's pages call the API through this stack) binds its own
        # context; the caller's comes back when it returns.
        outer_log_context = structlog.contextvars.get_contextvars()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace.trace_id)
        started = time.perf_counter()
        status_holder = {"status": 500, "started": False}
        crashed: list[str] = []

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message["headers"] = [
                    *(pair for pair in message.get("headers", ()) if pair[0].lower() not in _CONTEXT_HEADERS),
                    (_REQUEST_ID_RAW, request_id.encode("latin-1")),
                    (_TRACEPARENT_RAW, trace.header().encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as exc:
            crashed.append(f"unhandled {type(exc).__name__}")
            log.exception("unhandled_error", method=scope["method"], path=loggable_path(scope))
            if not status_holder["started"]:
                response = problem_response(
                    status=500,
                    code="INTERNAL_ERROR",
                    title="Internal server error",
                    detail="An unexpected error occurred; it has been logged with this request id.",
                )
                await response(scope, receive, send_with_request_id)
        finally:
            status = int(status_holder["status"])
            code = problem_code_var.get().get("code")
            log.info(
                "request",
                method=scope["method"],
                path=loggable_path(scope),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            if status >= 500:
                RECENT_ERRORS.record_server_error(
                    route=loggable_path(scope),
                    status=status,
                    code=code,
                    error=crashed[0] if crashed else f"status {status}",
                )
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(**outer_log_context)
            request_id_var.reset(tokens[0])
            trace_var.reset(tokens[1])
            request_scope_var.reset(tokens[2])
            problem_code_var.reset(tokens[3])


API_SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    # same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with a form
    # post, and the web UI's CSRF check needs the real origin; other sites still get nothing.
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
)


# Files whose URL carries a digest of their content (``/static/app.css?v=<digest>``): a browser may
# keep them, so a page does not fetch its stylesheets and script again on every navigation.
CACHEABLE = "public, max-age=31536000, immutable"


class SecurityHeadersMiddleware:
    """Adds the headers of API.md to every response, errors included, and drops ``Server``.
    Responses under ``cacheable_prefixes`` get ``CACHEABLE`` instead of ``no-store`` when they succeed."""

    def __init__(
        self,
        app: ASGIApp,
        headers: Iterable[tuple[str, str]] = API_SECURITY_HEADERS,
        cacheable_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.headers = tuple(headers)
        self.cacheable_prefixes = cacheable_prefixes
        # Raw (lower-cased, encoded) once: a response's own values for these names are replaced,
        # ``Server`` and ``X-Powered-By`` dropped; one pass over its headers, no per-name scans.
        self._raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in self.headers]
        self._cacheable_raw = [
            (name, CACHEABLE.encode("latin-1") if name == b"cache-control" else value) for name, value in self._raw
        ]
        self._replaced = frozenset(name for name, _ in self._raw) | {b"server", b"x-powered-by"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        cacheable = bool(self.cacheable_prefixes) and scope["path"].startswith(self.cacheable_prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                ours = self._cacheable_raw if cacheable and message["status"] == 200 else self._raw
                message["headers"] = [
                    *(pair for pair in message.get("headers", ()) if pair[0].lower() not in self._replaced),
                    *ours,
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)

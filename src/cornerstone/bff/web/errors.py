"""Errors as pages: what a person sees instead of a problem body.

On a page path (anything outside ``/api/``, the probes and ``/static/``) a refusal is a page
with the same status: 404 for what does not exist or is another org's (the same page for
both), 403 for what the role may not see, 503 while the kernel is away (with ``Retry-After``),
and each shows the request id. No session sends the browser to ``/login``. Clients that do not
ask for HTML (``Accept`` without ``text/html``) keep getting the problem body on unknown paths.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cornerstone.bff.audit.middleware import note_audit
from cornerstone.bff.web.api import ApiProblem
from cornerstone.bff.web.session import CsrfRefused, SignInRequired, clear_session_cookies, signed_in_user
from cornerstone.bff.web.templating import redirect, render
from cornerstone.kit.problems import PROBLEM_MEDIA_TYPE
from cornerstone.kit.request_context import request_id_var

log = structlog.get_logger("cornerstone.bff.web")

_API_PREFIXES = ("/api/", "/static/")
_PROBES = frozenset({"/healthz", "/readyz", "/metrics", "/favicon.ico"})

_MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "This address or form was not understood."),
    403: ("Not allowed", "Your role does not give you access to this page or action."),
    404: ("Page not found", "There is nothing here, or it is not yours to see."),
    405: ("Not allowed", "This page does not take that kind of request."),
    409: ("Conflict", "This could not be done in the object's current state."),
    422: ("Not understood", "Some of what was sent was not valid."),
    413: ("Too large", "What was sent is larger than Cornerstone accepts."),
    415: ("Not accepted", "This kind of content is not accepted here."),
    429: ("Too many requests", "Slow down a little and try again in a moment."),
    500: ("Something went wrong", "Cornerstone hit an unexpected error. It has been logged; try again."),
    503: ("Temporarily unavailable", "Part of Cornerstone is not answering right now. Try again shortly."),
}


def is_page_path(path: str) -> bool:
    return not path.startswith(_API_PREFIXES) and path not in _PROBES


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def error_page(
    request: Request, status: int, detail: str | None = None, retry_after: str | None = None
) -> Response:
    title, message = _MESSAGES.get(status, ("Something went wrong", "The request could not be completed."))
    response = render(
        request,
        "errors/error.html",
        {"status": status, "heading": title, "message": message, "detail": detail},
        user=await signed_in_user(request),
        status_code=status,
        title=title,
    )
    if retry_after:
        response.headers["Retry-After"] = retry_after
    return response


async def _delegate(handler: Callable[[Request, Exception], Any], request: Request, exc: Exception) -> Response:
    result = handler(request, exc)
    if inspect.isawaitable(result):
        result = await result
    assert isinstance(result, Response)
    return result


class PageErrorsMiddleware:
    """A problem answer to a browser on a page path becomes the error page, with the same status,
    request id and rate-limit fields: the perimeter's 413 and 429 and the request context's 500 are
    written before any page handler could run, as problem bodies. It sits outside the request
    context (``new_service_app(outer_middleware=...)``), so it sees those answers as sent."""

    _KEPT_HEADERS = ("x-request-id", "retry-after", "ratelimit", "ratelimit-policy")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not is_page_path(scope["path"])
            or "text/html" not in Headers(scope=scope).get("accept", "")
        ):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        body = bytearray()

        async def intercept(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
                if content_type.startswith(PROBLEM_MEDIA_TYPE):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._send_page(scope, receive, send, held, bytes(body))
                return
            await send(message)

        await self.app(scope, receive, intercept)

    async def _send_page(self, scope: Scope, receive: Receive, send: Send, start: Message, body: bytes) -> None:
        headers = Headers(raw=start.get("headers", []))
        status = int(start["status"])
        try:
            problem = json.loads(body) if body else {}
        except ValueError:
            problem = {}
        detail = problem.get("detail") if isinstance(problem, dict) and status not in (403, 404) else None
        token = request_id_var.set(headers.get("x-request-id"))
        try:
            page = await error_page(Request(scope, receive), status, str(detail) if detail else None)
        except Exception:
            log.exception("error_page_failed", status=status)
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        finally:
            request_id_var.reset(token)
        for name in self._KEPT_HEADERS:
            if name in headers:
                page.headers[name] = headers[name]
        await page(scope, receive, send)


def install_page_handlers(app: FastAPI) -> None:
    """Page-aware handlers, added over the problem handlers of ``kit.problems``."""
    json_http_handler = app.exception_handlers[StarletteHTTPException]
    json_validation_handler = app.exception_handlers[RequestValidationError]

    async def on_sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        note_audit(request, error_code="UNAUTHORIZED")  # recorded only for a refused form
        response = redirect(exc.location())
        if exc.expired:
            clear_session_cookies(response)
        return response

    async def on_csrf_refused(request: Request, _exc: Exception) -> Response:
        note_audit(request, error_code="CSRF_FAILED")
        return await error_page(
            request,
            403,
            "This form could not be accepted: it has expired or did not come from a Cornerstone page. "
            "Go back, reload the page and try again.",
        )

    async def on_api_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiProblem)
        if exc.status == 401:
            # A form's address takes only posts: after signing in again, go to the start page.
            back = request.url.path if request.method == "GET" else "/"
            return await on_sign_in_required(request, SignInRequired(back, expired=True))
        detail = None if exc.status in (403, 404) else exc.detail
        return await error_page(request, exc.status, detail, exc.retry_after)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if is_page_path(request.url.path) and wants_html(request):
            return await error_page(request, exc.status_code)
        return await _delegate(json_http_handler, request, exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not is_page_path(request.url.path):
            return await _delegate(json_validation_handler, request, exc)
        # A malformed id in a page's address names nothing: the same page as any unknown object.
        in_path = any(error.get("loc", ("",))[0] == "path" for error in exc.errors())
        return await error_page(request, 404 if in_path else 400)

    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.add_exception_handler(CsrfRefused, on_csrf_refused)
    app.add_exception_handler(ApiProblem, on_api_problem)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)

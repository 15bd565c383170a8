"""Errors as pages: what a person sees instead of a problem body.

On a page path (anything outside ``/api/``, the probes and ``/static/``) a refusal is a page
with the same status: 404 for what does not exist or is another org's (the same page for
both), 403 for what the role may not see, 503 while the kernel is away (with ``Retry-After``),
and each shows the request id. No session sends the browser to ``/login``. Clients that do not
ask for HTML (``Accept`` without ``text/html``) keep getting the problem body on unknown paths.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from cornerstone.bff.audit.middleware import note_audit
from cornerstone.bff.web.api import ApiProblem
from cornerstone.bff.web.session import CsrfRefused, SignInRequired, clear_session_cookies, signed_in_user
from cornerstone.bff.web.templating import redirect, render

_API_PREFIXES = ("/api/", "/static/")
_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})

_MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "This address or form was not understood."),
    403: ("Not allowed", "Your role does not give you access to this page or action."),
    404: ("Page not found", "There is nothing here, or it is not yours to see."),
    405: ("Not allowed", "This page does not take that kind of request."),
    409: ("Conflict", "This could not be done in the object's current state."),
    422: ("Not understood", "Some of what was sent was not valid."),
    429: ("Too many requests", "Slow down a little and try again in a moment."),
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
            return await on_sign_in_required(request, SignInRequired(request.url.path, expired=True))
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

"""The error taxonomy and its RFC 9457 ``application/problem+json`` rendering.

Every service raises ``AppError`` subclasses; the class carries the HTTP status and a
stable ``code``. Handlers here turn them, validation errors and unknown routes into
one body shape: ``type``, ``title``, ``status``, ``detail``, ``code``, ``request_id``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from cornerstone.kit.request_context import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://cornerstone.dev/problems/"


class AppError(Exception):
    """Base of every error a service raises on purpose. Subclasses set the three class defaults."""

    status: int = 500
    code: str = "INTERNAL_ERROR"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        super().__init__(self.detail)


class BadRequest(AppError):
    """The request could not be read as sent (for example a `Content-Length` that is not a number)."""

    status = 400
    code = "BAD_REQUEST"
    title = "Bad request"


class Unauthorized(AppError):
    """No valid credential came with the request: no session or bearer token, or one that expired or was revoked (to
    the kernel: no valid service credential). Sign in again."""

    status = 401
    code = "UNAUTHORIZED"
    title = "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(AppError):
    """The caller is signed in, but their role (or their relation to this object) does not allow this."""

    status = 403
    code = "FORBIDDEN"
    title = "Forbidden"


class NotFound(AppError):
    """No such route, or no such object visible to the caller: another org's object is not found either, so its
    existence never leaks."""

    status = 404
    code = "NOT_FOUND"
    title = "Not found"


class Conflict(AppError):
    """The request is valid but conflicts with the current state of what it acts on (the base of the specific 409
    codes)."""

    status = 409
    code = "CONFLICT"
    title = "Conflict"


class VersionConflict(Conflict):
    """The ``version`` sent is not the current one: the object changed since it was read. Reload it and try again."""

    code = "VERSION_CONFLICT"
    title = "Version conflict"


class ValidationFailed(AppError):
    """The body, query or path failed validation; ``errors`` lists each field (``field``, ``message``, ``type``), never
    echoing the value sent."""

    status = 422
    code = "VALIDATION_ERROR"
    title = "Validation failed"


class ServiceUnavailable(AppError):
    """The service cannot answer now (a dependency is down, or the records kept changing while they were read); nothing
    was changed. Retry shortly."""

    status = 503
    code = "SERVICE_UNAVAILABLE"
    title = "Service unavailable"


# The JSON Schema of every body ``problem_body`` renders: the OpenAPI document's ``Problem``. Extra
# members an error carries (a 422's ``errors``, a gate's missing items, ...) come after the six.
FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["field", "message", "type"],
    "properties": {
        "field": {"type": "string", "description": "Where: `body.amount`, `query.limit`, `header.X`, ..."},
        "message": {"type": "string", "description": "What is wrong; never the value sent."},
        "type": {"type": "string", "description": "The kind of error, e.g. `missing`, `string_too_long`."},
    },
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "An RFC 9457 problem. Every `code`, its status and meaning are listed in docs/ERRORS.md.",
    "required": ["type", "title", "status", "detail", "code", "request_id"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": PROBLEM_TYPE_BASE + "<code in kebab case>"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$", "description": "Stable; see docs/ERRORS.md."},
        "request_id": {"type": "string", "description": "The request's `X-Request-ID`, for support."},
        "errors": {
            "type": "array",
            "items": FIELD_ERROR_SCHEMA,
            "description": "422 `VALIDATION_ERROR`: one entry per field that failed.",
        },
    },
    "additionalProperties": True,
}


_STATUS_TITLES = {
    400: ("BAD_REQUEST", "Bad request"),
    401: ("UNAUTHORIZED", "Authentication required"),
    403: ("FORBIDDEN", "Forbidden"),
    404: ("NOT_FOUND", "Not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    406: ("NOT_ACCEPTABLE", "Not acceptable"),
    413: ("PAYLOAD_TOO_LARGE", "Payload too large"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"),
    422: ("VALIDATION_ERROR", "Validation failed"),
    429: ("RATE_LIMITED", "Too many requests"),
}


# Per request (set by the request context middleware): the code of the problem answered, if any,
# for the access log and the recent errors buffer.
# Outside a request the default holder is this one, which is never written to.
_NO_REQUEST: dict[str, str] = {}
problem_code_var: ContextVar[dict[str, str]] = ContextVar("problem_code", default=_NO_REQUEST)


def problem_body(
    *, status: int, code: str, title: str, detail: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    holder = problem_code_var.get()
    if holder is not _NO_REQUEST:
        holder["code"] = code
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.lower().replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": current_request_id(),
    }
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    return body


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = problem_body(status=status, code=code, title=title, detail=detail, extra=extra)
    return Response(
        content=json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def app_error_response(error: AppError) -> Response:
    return problem_response(
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        extra=error.extra,
        headers=error.headers,
    )


def field_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic's error list as ``[{"field": "body.name", "message": ...}]``, without echoing input."""
    out: list[dict[str, str]] = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()))
        out.append({"field": location, "message": str(error.get("msg", "invalid")), "type": str(error.get("type"))})
    return out


def invalid_field(field: str, message: str, kind: str) -> ValidationFailed:
    """A 422 naming one field, shaped like the ones request validation gives (``errors[].field``)."""
    return ValidationFailed(
        f"Invalid fields: {field}", extra={"errors": [{"field": field, "message": message, "type": kind}]}
    )


def validation_error(errors: Sequence[Any]) -> ValidationFailed:
    fields = field_errors(errors)
    names = ", ".join(sorted({f["field"] for f in fields})) or "request"
    return ValidationFailed(f"Invalid fields: {names}", extra={"errors": fields})


def install_problem_handlers(app: FastAPI) -> None:
    async def on_app_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        return app_error_response(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return app_error_response(validation_error(exc.errors()))

    async def on_http_exception(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code, title = _STATUS_TITLES.get(exc.status_code, ("HTTP_ERROR", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem_response(
            status=exc.status_code, code=code, title=title, detail=detail, headers=exc.headers or None
        )

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)


class IdempotencyKeyRequired(BadRequest):
    """A money POST without a usable ``Idempotency-Key`` (missing, empty, too long, not printable ASCII)."""

    code = "IDEMPOTENCY_KEY_REQUIRED"
    title = "Idempotency key required"


class IdempotencyKeyReused(AppError):
    """The ``Idempotency-Key`` was already used, within its lifetime, for a different request."""

    status = 422
    code = "IDEMPOTENCY_KEY_REUSED"
    title = "Idempotency key reused"


class IdempotencyInFlight(Conflict):
    """The first request with this ``Idempotency-Key`` has not finished yet; retry shortly."""

    code = "IDEMPOTENCY_IN_FLIGHT"
    title = "Request with this idempotency key in flight"

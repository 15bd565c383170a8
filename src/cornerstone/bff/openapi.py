"""The BFF's OpenAPI document (``/api/openapi.json``), shaped to say what the API really answers.

FastAPI documents a route's success and a 422 in its own ``detail[]`` shape. In fact every answer
that is not a success is an RFC 9457 problem (``kit.problems``), and most come from layers the
route's own signature does not show: the rate limit, the token check and the role table, the CSRF
check, the body limits, the idempotency layer and the kernel. This module adds to each operation
the error statuses those layers can give it, derived from what the route declares (its
permission, its dependencies, its parameters and body), each as ``application/problem+json``
with the one ``Problem`` schema (``kit.problems.PROBLEM_SCHEMA``); marks ``Idempotency-Key``
required on money POSTs (FastAPI itself keeps it optional, so a missing key is the documented 400
``IDEMPOTENCY_KEY_REQUIRED`` rather than a 422); and declares the two ways to authenticate (a
bearer token, or the web UI's session cookie), per operation.

What no declaration shows (a route's own refusals, such as ``EMAIL_TAKEN``) is listed in
``ROUTE_ANSWERS`` next to the error class that raises it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from cornerstone.bff.auth.dependencies import current_user
from cornerstone.bff.authz.permissions import PERMISSIONS, Permission, Role
from cornerstone.bff.authz.routes import declared_permission
from cornerstone.bff.csrf import SESSION_COOKIE, UNSAFE_METHODS, CsrfFailed
from cornerstone.bff.idempotency.dependencies import idempotency
from cornerstone.bff.kernel_client.client import KernelUnavailable
from cornerstone.bff.kernel_client.dependencies import kernel_client
from cornerstone.bff.ratelimit.middleware import EXEMPT_PATHS, RateLimited
from cornerstone.bff.users.service import CannotChangeSelf, EmailTaken
from cornerstone.kit.idempotency_keys import KEY_HEADER, MAX_KEY_LENGTH, REPLAYED_HEADER
from cornerstone.kit.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_SCHEMA,
    AppError,
    BadRequest,
    Conflict,
    Forbidden,
    IdempotencyInFlight,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from cornerstone.kit.request_body import PayloadTooLarge

PROBLEM = "Problem"
PROBLEM_REF = {"$ref": f"#/components/schemas/{PROBLEM}"}
BEARER_SCHEME = "bearerAuth"
COOKIE_SCHEME = "sessionCookie"
SECURITY_SCHEMES: dict[str, Any] = {
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from `POST /api/auth/token`.",
    },
    COOKIE_SCHEME: {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The web UI's session (an access token in an HttpOnly cookie). Used only when no "
        "`Authorization` header is sent; a change made with it also needs `X-CSRF-Token` equal to the "
        "`cs_csrf` cookie and this site's `Origin`.",
    },
}
# printable ASCII (space to ~), as kit.idempotency_keys checks it; HTTP trims a value's outer spaces.
KEY_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_KEY_LENGTH,
    "pattern": "^[!-~]([ -~]*[!-~])?$",
}
RETRY_AFTER = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 0}}


@dataclass(frozen=True, slots=True)
class Answer:
    """One way a route can refuse: a status, the problem ``code``, and when."""

    status: int
    code: str
    when: str

    @classmethod
    def of(cls, error: type[AppError], when: str | None = None) -> Answer:
        doc = " ".join((error.__doc__ or error.title).split())
        return cls(error.status, error.code, when or doc)


# What a route answers that nothing it declares implies (the refusals of its own service code).
ROUTE_ANSWERS: Mapping[tuple[str, str], tuple[Answer, ...]] = {
    ("POST", "/api/auth/token"): (Answer.of(Unauthorized, "The email or the password is wrong."),),
    ("POST", "/api/auth/password"): (Answer.of(Unauthorized, "The current password is wrong."),),
    ("POST", "/api/users"): (Answer.of(EmailTaken),),
    ("PATCH", "/api/users/{user_id}"): (Answer.of(CannotChangeSelf),),
    ("GET", "/api/artifacts/{artifact_id}/download"): (
        Answer(500, "ARTIFACT_CORRUPT", "The stored bytes no longer match their hash; they are withheld."),
    ),
}
# Answers that are not problems: readiness says which dependency is down in its own JSON.
OTHER_RESPONSES: Mapping[tuple[str, str], Mapping[str, Any]] = {
    ("GET", "/readyz"): {
        "503": {
            "description": "The database or the kernel is not ready.",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status", "database", "kernel"],
                        "properties": {
                            "status": {"type": "string", "enum": ["ok", "unavailable"]},
                            "database": {"type": "string", "enum": ["up", "down"]},
                            "kernel": {"type": "string", "enum": ["up", "down"]},
                        },
                    }
                }
            },
        }
    }
}
# Success bodies whose media type is the stored object's own (an artifact is sent with its type).
ANY_MEDIA_TYPE_SUCCESS = frozenset({("GET", "/api/artifacts/{artifact_id}/download")})


@dataclass(frozen=True, slots=True)
class RouteTraits:
    """What a route declares that decides which errors it can answer."""

    method: str
    path: str
    permission: str | None
    authenticated: bool
    kernel: bool
    money: bool
    body: bool
    upload: bool
    path_parameters: bool
    parameters: bool
    resolves_ids: bool

    @property
    def unsafe(self) -> bool:
        return self.method in UNSAFE_METHODS

    @property
    def open_to_every_role(self) -> bool:
        return self.permission is not None and PERMISSIONS[Permission(self.permission)] == frozenset(Role)

    @property
    def rate_limited(self) -> bool:
        return self.path not in EXEMPT_PATHS


@dataclass(slots=True)
class ErrorAnswers:
    """The statuses an operation can answer besides success, each with its codes and when."""

    by_status: dict[int, list[Answer]] = field(default_factory=dict)

    def add(self, answer: Answer) -> None:
        answers = self.by_status.setdefault(answer.status, [])
        if answer not in answers:
            answers.append(answer)


def dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every callable in a route's dependency tree (the route's own endpoint excluded)."""
    pending = list(dependant.dependencies)
    while pending:
        sub = pending.pop()
        if sub.call is not None:
            yield sub.call
        pending.extend(sub.dependencies)


def _property_names(schema: Mapping[str, Any], components: Mapping[str, Any]) -> set[str]:
    """The property names of a request body schema (one level, following ``$ref``)."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        schema = components.get(ref.rsplit("/", 1)[-1], {})
    return set(schema.get("properties", {}))


def route_traits(route: APIRoute, method: str, path: str, operation: Mapping[str, Any], components: Any) -> RouteTraits:
    calls = set(dependency_calls(route.dependant))
    parameters = [p for p in operation.get("parameters", []) if p.get("name") != KEY_HEADER]
    names = {p["name"] for p in parameters}
    for content in operation.get("requestBody", {}).get("content", {}).values():
        names |= _property_names(content.get("schema", {}), components)
    kernel = kernel_client in calls
    return RouteTraits(
        method=method,
        path=path,
        permission=declared_permission(route),
        authenticated=current_user in calls,
        kernel=kernel,
        money=idempotency in calls,
        body="requestBody" in operation,
        upload="multipart/form-data" in operation.get("requestBody", {}).get("content", {}),
        path_parameters=any(p.get("in") == "path" for p in parameters),
        parameters=bool(parameters),
        # The kernel resolves every id it is sent, in the path, the query or the body.
        resolves_ids=kernel and any(name.endswith("_id") for name in names),
    )


def error_answers(traits: RouteTraits) -> ErrorAnswers:
    """The errors the layers a route passes through can answer, from what the route declares."""
    answers = ErrorAnswers()
    if traits.rate_limited:
        answers.add(Answer.of(RateLimited))
    if traits.authenticated:
        answers.add(Answer.of(Unauthorized))
        if not traits.open_to_every_role:
            answers.add(Answer.of(Forbidden, f"The caller's role lacks the permission `{traits.permission}`."))
        if traits.unsafe:
            answers.add(Answer.of(CsrfFailed))
    if traits.body:
        answers.add(Answer.of(BadRequest, "The request could not be read as sent (a `Content-Length` not a number)."))
        answers.add(Answer.of(PayloadTooLarge))
    if traits.upload:
        # A JSON route answers a body in another media type with its 422 (the body is no object).
        answers.add(Answer(415, "UNSUPPORTED_MEDIA_TYPE", "The file is not of a type the platform stores."))
    if traits.body or traits.parameters:
        answers.add(Answer.of(ValidationFailed))
    if traits.path_parameters or traits.resolves_ids:
        answers.add(Answer.of(NotFound))
    if traits.money:
        answers.add(Answer.of(IdempotencyKeyRequired))
        answers.add(Answer.of(IdempotencyInFlight))
        answers.add(Answer.of(IdempotencyKeyReused))
    if traits.kernel:
        answers.add(Answer.of(KernelUnavailable))
        # The kernel's own answers, passed on as they are: its role rules per deal and gate.
        answers.add(Answer(403, "FORBIDDEN", "The kernel refuses this caller for this object (a gate's roles)."))
        if traits.unsafe:
            answers.add(Answer.of(Conflict, "The object's state does not allow this (the code says which)."))
            answers.add(Answer.of(ValidationFailed, "The kernel refuses the values (the code says which)."))
    for answer in ROUTE_ANSWERS.get((traits.method, traits.path), ()):
        answers.add(answer)
    return answers


def _response(status: int, answers: list[Answer]) -> dict[str, Any]:
    described = "; ".join(f"`{a.code}`: {a.when}" for a in answers)
    response: dict[str, Any] = {
        "description": described,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}},
    }
    headers: dict[str, Any] = {}
    if status == 401:
        headers["WWW-Authenticate"] = {"description": "`Bearer`", "schema": {"type": "string"}}
    if status in {429, 503}:
        headers["Retry-After"] = RETRY_AFTER
    if headers:
        response["headers"] = headers
    return response


def _shape_operation(operation: dict[str, Any], traits: RouteTraits) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    # FastAPI's 422 (``detail[]`` JSON) is not what the API sends: rebuilt below as a problem.
    responses.pop("422", None)
    for status, answers in sorted(error_answers(traits).by_status.items()):
        responses[str(status)] = _response(status, answers)
    responses.update(OTHER_RESPONSES.get((traits.method, traits.path), {}))
    successes = [response for code, response in responses.items() if code.startswith("2")]
    if (traits.method, traits.path) in ANY_MEDIA_TYPE_SUCCESS:
        for response in successes:
            response["content"] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    if traits.money:
        _require_key(operation)
        for response in successes:
            response.setdefault("headers", {})[REPLAYED_HEADER] = {
                "description": "`true` when this is the stored outcome of an earlier request with this key.",
                "schema": {"type": "string", "enum": ["true"]},
            }
        # IDEMPOTENCY_IN_FLIGHT says when the first request's claim ends.
        responses["409"].setdefault("headers", {})["Retry-After"] = RETRY_AFTER
    operation["security"] = [{BEARER_SCHEME: []}, {COOKIE_SCHEME: []}] if traits.authenticated else []


def _require_key(operation: dict[str, Any]) -> None:
    """``Idempotency-Key`` as the API requires it; FastAPI's own parameter stays optional (see above)."""
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    existing = next((p for p in parameters if p.get("in") == "header" and p.get("name") == KEY_HEADER), None)
    if existing is None:
        existing = {"name": KEY_HEADER, "in": "header"}
        parameters.append(existing)
    existing["required"] = True
    existing["description"] = (
        f"1-{MAX_KEY_LENGTH} printable ASCII characters (e.g. a UUID), the same on every retry: the outcome is "
        f"stored for 24 hours and replayed with `{REPLAYED_HEADER}: true`. Missing or malformed: 400 "
        f"`{IdempotencyKeyRequired.code}`."
    )
    existing["schema"] = dict(KEY_SCHEMA)


def _routes(app: FastAPI) -> dict[tuple[str, str], APIRoute]:
    """The app's API routes by ``(method, path)``, as mounted (router prefixes applied)."""
    # Recent FastAPI keeps included routers as lazy branches; iter_route_contexts flattens them.
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    contexts: list[Any] = list(iter_contexts(app.routes)) if iter_contexts else list(app.routes)
    routes: dict[tuple[str, str], APIRoute] = {}
    for context in contexts:
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute):
            for method in context.methods:
                routes[(method, context.path)] = route
    return routes


def shape_document(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """Shape FastAPI's ``document`` of ``app`` in place (see the module docstring) and return it."""
    components: dict[str, Any] = document.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    routes = _routes(app)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            route = routes.get((method.upper(), path))
            if route is None:
                raise LookupError(f"{method.upper()} {path} is documented but is no route of the app")
            _shape_operation(operation, route_traits(route, method.upper(), path, operation, schemas))
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas[PROBLEM] = PROBLEM_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the shaped document at the app's ``openapi_url`` (built on first use, then kept)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            shape_document(app, FastAPI.openapi(app))
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

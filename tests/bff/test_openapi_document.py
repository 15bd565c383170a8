"""The BFF's OpenAPI document tells the truth about every route, read from the router itself.

For each route the app really has (``app.routes``), the statuses the layers it passes through can
answer must be documented: the rate limit (429), the token check (401) and role table (403), the
CSRF check (403 for a change), the body limits (400, 413, 422; 415 for an upload), its parameters
(422), its path ids (404), the kernel (503) and the idempotency layer (400, 409, 422, with
``Idempotency-Key`` required). Every error is an ``application/problem+json`` ``Problem`` whose
schema is the one the problems are rendered by. What schemathesis finds over real HTTP is in
tests/integration/test_schemathesis.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import fastapi.routing
import jsonschema_rs
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, ValidationError

from cornerstone.bff.auth.dependencies import current_user
from cornerstone.bff.authz.permissions import PERMISSIONS, Permission, Role, public
from cornerstone.bff.authz.routes import PAGE_TAG, declared_permission
from cornerstone.bff.csrf import SESSION_COOKIE, CsrfFailed
from cornerstone.bff.idempotency.dependencies import idempotency
from cornerstone.bff.kernel_client.client import KernelAnswer, KernelUnavailable
from cornerstone.bff.kernel_client.dependencies import kernel_client
from cornerstone.bff.ratelimit.middleware import EXEMPT_PATHS, RateLimited
from cornerstone.kit.idempotency_keys import KEY_HEADER
from cornerstone.kit.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_SCHEMA,
    AppError,
    IdempotencyKeyRequired,
    NotFound,
    problem_body,
    validation_error,
)
from cornerstone.kit.request_body import PayloadTooLarge
from cornerstone.kit.request_context import request_id_var
from tests.integration.helpers import built_bff_app
from tests.support import Stack

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def api_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    """``(method, path, route)`` for every API route as mounted; the web UI's pages are not in the document."""
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    contexts: list[Any] = list(iter_contexts(app.routes)) if iter_contexts else list(app.routes)
    for context in contexts:
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute) and PAGE_TAG not in (route.tags or ()):
            for method in sorted(context.methods - {"HEAD", "OPTIONS"}):
                yield method, context.path, route


def dependants(route: APIRoute) -> list[Dependant]:
    """The route's dependant and every one in its dependency tree."""
    found = []
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        found.append(dependant)
        pending.extend(dependant.dependencies)
    return found


def calls_in(route: APIRoute) -> set[Callable[..., Any]]:
    return {d.call for d in dependants(route)[1:] if d.call is not None}


def implied_statuses(method: str, path: str, route: APIRoute) -> set[int]:
    """What the layers in front of and behind ``route`` can answer, from what it declares."""
    calls = calls_in(route)
    query_params = [p for d in dependants(route) for p in d.query_params]
    path_params = [p for d in dependants(route) for p in d.path_params]
    permission = declared_permission(route)
    statuses: set[int] = set()
    if path not in EXEMPT_PATHS:
        statuses.add(RateLimited.status)
    if current_user in calls:
        statuses.add(401)
        if permission is None or PERMISSIONS[Permission(permission)] != frozenset(Role):
            statuses.add(403)
        if method in UNSAFE:
            statuses.add(CsrfFailed.status)
    if route.body_field is not None:
        statuses |= {400, PayloadTooLarge.status, 422}
        if any(getattr(p.field_info, "media_type", "").startswith("multipart/") for p in route.dependant.body_params):
            statuses.add(415)  # an upload whose bytes are of no type the platform stores
    if query_params or path_params:
        statuses.add(422)
    if path_params:
        statuses.add(NotFound.status)
    if kernel_client in calls:
        statuses.add(KernelUnavailable.status)
        if method in UNSAFE:
            statuses |= {409, 422}  # the kernel's own refusals of a change: its state, its values
    if idempotency in calls:
        statuses |= {IdempotencyKeyRequired.status, 409, 422}
    return statuses


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return built_bff_app().openapi()


def test_every_route_documents_every_status_its_layers_can_answer(document: dict[str, Any]) -> None:
    routes = list(api_routes(built_bff_app()))
    assert len(routes) >= 50
    missing = {}
    for method, path, route in routes:
        operation = document["paths"].get(path, {}).get(method.lower())
        assert operation is not None, f"{method} {path} is not in the document"
        documented = {int(status) for status in operation["responses"]}
        lacking = implied_statuses(method, path, route) - documented
        if lacking:
            missing[f"{method} {path}"] = sorted(lacking)
    assert missing == {}


def test_every_error_answer_is_a_problem(document: dict[str, Any]) -> None:
    not_problems = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400 or (method, path, status) == ("get", "/readyz", "503"):
                    continue
                if response.get("content") != {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}:
                    not_problems.append(f"{method.upper()} {path} {status}")
                if not response.get("description"):
                    not_problems.append(f"{method.upper()} {path} {status} says nothing of when")
    assert not_problems == []
    assert document["components"]["schemas"]["Problem"] == PROBLEM_SCHEMA
    assert "HTTPValidationError" not in json.dumps(document)


class _Sample(BaseModel):
    amount: int = Field(gt=0)
    name: str = Field(max_length=3)


def rendered_problems() -> Iterator[dict[str, Any]]:
    """Bodies as the problem handlers render them: plain errors, a 422 listing fields, a kernel answer
    with extra members."""
    for error in (
        NotFound(),
        IdempotencyKeyRequired("no key"),
        RateLimited("slow down"),
        KernelUnavailable("down", headers={"Retry-After": "3"}),
        PayloadTooLarge("too large"),
    ):
        yield problem_body(status=error.status, code=error.code, title=error.title, detail=error.detail)
    with pytest.raises(ValidationError) as invalid:
        _Sample.model_validate({"amount": -1, "name": "long"})
    failed = validation_error(invalid.value.errors())
    yield problem_body(
        status=failed.status, code=failed.code, title=failed.title, detail=failed.detail, extra=failed.extra
    )
    answer: AppError = KernelAnswer(409, {"code": "GATE_NOT_MET", "title": "Gate not met", "missing": ["loi"]})
    yield problem_body(
        status=answer.status, code=answer.code, title=answer.title, detail=answer.detail, extra=answer.extra
    )


def test_the_problem_schema_is_what_the_problems_are_rendered_as() -> None:
    validator = jsonschema_rs.validator_for(PROBLEM_SCHEMA)
    token = request_id_var.set("req-1")
    try:
        bodies = list(rendered_problems())
    finally:
        request_id_var.reset(token)
    assert any("errors" in body for body in bodies)
    for body in bodies:
        assert validator.is_valid(body), (body, [e.message for e in validator.iter_errors(body)])
    # And it is a real constraint: a body without its code, or a field error without a field, is not one.
    assert not validator.is_valid({k: v for k, v in bodies[0].items() if k != "code"})
    assert not validator.is_valid({**bodies[0], "errors": [{"message": "m", "type": "t"}]})


def test_money_posts_require_their_key_in_the_document_but_the_api_answers_400_itself(
    document: dict[str, Any],
) -> None:
    money = [
        (method, path, route) for method, path, route in api_routes(built_bff_app()) if idempotency in calls_in(route)
    ]
    assert ("POST", "/api/capital-calls") in {(method, path) for method, path, _ in money}
    for method, path, route in money:
        parameters = document["paths"][path][method.lower()]["parameters"]
        key = next(p for p in parameters if p["name"] == KEY_HEADER)
        assert key["in"] == "header"
        assert key["required"] is True, f"{method} {path}"
        assert key["schema"]["type"] == "string"
        # FastAPI itself must not enforce it: a missing key is the 400 IDEMPOTENCY_KEY_REQUIRED, never a 422.
        header = next(p for d in dependants(route) for p in d.header_params if p.alias == KEY_HEADER)
        assert header.field_info.is_required() is False


def test_the_document_declares_how_to_authenticate_and_where_it_is_not_needed(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert {"type": "http", "scheme": "bearer"}.items() <= schemes["bearerAuth"].items()
    assert {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE}.items() <= schemes["sessionCookie"].items()
    wrong = []
    for method, path, route in api_routes(built_bff_app()):
        security = document["paths"][path][method.lower()]["security"]
        calls = calls_in(route)
        expected = [] if public in calls else [{"bearerAuth": []}, {"sessionCookie": []}]
        if current_user not in calls and public not in calls:
            wrong.append(f"{method} {path} declares neither a sign-in nor `public`")
        if security != expected:
            wrong.append(f"{method} {path}: {security}")
    assert wrong == []
    assert document["paths"]["/api/auth/token"]["post"]["security"] == []


def test_the_served_document_is_the_shaped_one(stack: Stack, document: dict[str, Any]) -> None:
    with stack.client() as anonymous:
        served = anonymous.get("/api/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(document))

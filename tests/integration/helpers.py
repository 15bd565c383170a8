"""Shared assertions and small API helpers for the integration and BFF service tests."""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from typing import Any

import fastapi.routing
import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute

from cornerstone.bff.app import create_app
from cornerstone.bff.authz.routes import PAGE_TAG, declared_permission
from tests.support import TEST_PASSWORD, create_deal, logging_put_back, supply_material, transition

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

# API.md, cross-cutting rules: on every response, errors included.
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "Strict-Transport-Security",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "Cross-Origin-Opener-Policy",
    "Cache-Control",
)


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with ``status`` (and ``code``); returns the parsed body."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:2000]}"
    assert response.headers["content-type"] == "application/problem+json", response.headers.get("content-type")
    body = response.json()
    assert isinstance(body, dict), body
    missing = PROBLEM_KEYS - body.keys()
    assert not missing, f"problem body lacks {missing}: {body}"
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_validation_problem(response: httpx.Response, *fields: str) -> dict[str, Any]:
    """A 422 ``VALIDATION_ERROR`` whose ``errors[].field`` names every one of ``fields``."""
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    named = {error["field"] for error in body["errors"]}
    for name in fields:
        assert name in named, f"{name!r} not among the fields named by the 422: {sorted(named)}"
    return body


def assert_unauthorized(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == "Bearer"
    return body


def without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "request_id"}


def list_all_deals(client: httpx.Client, limit: int = 200, **params: Any) -> list[dict[str, Any]]:
    """Every deal the caller can list, following ``next_cursor`` to the end."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/deals", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def get_deal(client: httpx.Client, deal_id: str) -> dict[str, Any]:
    response = client.get(f"/api/deals/{deal_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def deal_history(client: httpx.Client, deal_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/deals/{deal_id}/history", params={"limit": 200})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


@dataclass(frozen=True)
class ApiRoute:
    """One FastAPI route of the BFF as it is mounted (router prefixes applied)."""

    path: str
    methods: frozenset[str]
    takes_body: bool
    audit_action: str | None = None
    permission: str | None = None


@functools.cache
def built_bff_app() -> FastAPI:
    """The BFF app, built and never started. Building it configures logging for a server
    process; the test process's own logging and structlog setup are put back afterwards."""
    with logging_put_back():
        return create_app()


@functools.cache
def bff_api_routes() -> tuple[ApiRoute, ...]:
    """Every ``APIRoute`` of the BFF as its router really has it.

    FastAPI >= 0.16x keeps included routers as lazy branches in ``app.routes``;
    ``iter_route_contexts`` flattens them (older versions list the routes directly).
    """
    app = built_bff_app()
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    contexts: list[Any] = list(iter_contexts(app.routes)) if iter_contexts else list(app.routes)
    routes = []
    for context in contexts:
        original = getattr(context, "original_route", context)
        # The web UI's pages are clients of these routes, walked by tests/bff/test_pages_walk.py.
        if isinstance(original, APIRoute) and PAGE_TAG not in (original.tags or ()):
            extra = original.openapi_extra or {}
            routes.append(
                ApiRoute(
                    context.path,
                    frozenset(context.methods),
                    context.body_field is not None,
                    audit_action=extra.get("x-audit-action"),
                    permission=declared_permission(original),
                )
            )
    assert routes, "the BFF app has no API routes: the route walkers would prove nothing"
    return tuple(routes)


def route_calls(path_prefix: str) -> list[tuple[str, str]]:
    """Every ``(method, path template)`` of the BFF whose path starts with ``path_prefix``."""
    calls = [
        (method, route.path)
        for route in bff_api_routes()
        if route.path.startswith(path_prefix)
        for method in sorted(route.methods)
        if method not in {"HEAD", "OPTIONS"}
    ]
    assert calls, f"no BFF route under {path_prefix}"
    return calls


NO_SUCH_ID = "0" * 32

# A body each write route accepts, so a call reaches authorization and the kernel instead of
# stopping at validation. A new route with a body must be added here (the walkers fail until it is).
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/deals"): {"name": "Route Walk Plaza", "asset_class": "office"},
    ("PATCH", "/api/deals/{deal_id}"): {"name": "x", "version": 1},
    ("POST", "/api/deals/{deal_id}/transitions"): {"to": "underwriting", "version": 1},
    ("POST", "/api/users"): {"email": "route-walk@example.test", "role": "analyst"},
    ("PATCH", "/api/users/{user_id}"): {"role": "analyst"},
    ("POST", "/api/auth/token"): {"email": "nobody@example.test", "password": "not-the-password"},
    ("POST", "/api/auth/password"): {"current_password": TEST_PASSWORD, "new_password": "a-different-passphrase-9"},
    ("POST", "/api/deals/{deal_id}/approvals"): {"to": "loi", "decision": "approve"},
    ("POST", "/api/deals/{deal_id}/materials"): {"type": "rent_roll", "truth_class": "HUMAN", "data": {"units": 10}},
    ("POST", "/api/deals/{deal_id}/parties"): {"user_id": NO_SUCH_ID, "deal_role": "counsel"},
    ("POST", "/api/deals/{deal_id}/overrides"): {
        "to": "underwriting",
        "attestation": "The route walk attests this move in writing.",
    },
    ("PATCH", "/api/org/settings"): {"ic_quorum": 3},
    ("PATCH", "/api/checklist-items/{item_id}"): {"status": "in_review"},
    ("POST", "/api/funds"): {"name": "Route Walk Fund I", "currency": "USD"},
    ("POST", "/api/funds/{fund_id}/valuations"): {"as_of": "2026-06-30", "nav": 100_000},
    ("POST", "/api/funds/{fund_id}/commitments"): {"investor_id": NO_SUCH_ID, "amount": 100_000},
    ("POST", "/api/investors"): {"name": "Route Walk Partners LLC", "type": "llc", "email": "walk@example.test"},
    ("POST", "/api/capital-calls"): {
        "fund_id": NO_SUCH_ID,
        "amount": 100_000,
        "due_date": "2026-07-31",
        "purpose": "route walk",
    },
    ("POST", "/api/capital-calls/preview"): {
        "fund_id": NO_SUCH_ID,
        "amount": 100_000,
        "due_date": "2026-07-31",
        "purpose": "route walk",
    },
    ("POST", "/api/capital-calls/{call_id}/payments"): {
        "investor_id": NO_SUCH_ID,
        "amount": 100,
        "received_at": "2026-07-15",
    },
    ("POST", "/api/distributions"): {
        "fund_id": NO_SUCH_ID,
        "amount": 100_000,
        "date": "2026-06-30",
        "method": "pro_rata",
    },
    ("POST", "/api/distributions/preview"): {
        "fund_id": NO_SUCH_ID,
        "amount": 100_000,
        "date": "2026-06-30",
        "method": "pro_rata",
    },
}


# Routes whose body is a multipart form, with the files of a valid one (httpx's ``files=``). A new
# upload route must be added here; ``body_for`` is None for these, ``files_for`` gives the form.
MULTIPART_BODIES: dict[tuple[str, str], dict[str, tuple[str, bytes, str]]] = {
    ("POST", "/api/deals/{deal_id}/artifacts"): {"file": ("route-walk.txt", b"route walk\n", "text/plain")},
}


def files_for(method: str, path: str) -> dict[str, tuple[str, bytes, str]] | None:
    """The multipart files of a valid call to an upload route, ``None`` for any other route."""
    return MULTIPART_BODIES.get((method, path))


def body_for(method: str, path: str) -> dict[str, Any] | None:
    """The valid JSON body for a route that takes one, ``None`` for a route that takes none (or a form)."""
    route = next(r for r in bff_api_routes() if r.path == path and method in r.methods)
    if not route.takes_body or (method, path) in MULTIPART_BODIES:
        return None
    assert (method, path) in VALID_BODIES, f"add a valid body for {method} {path} to VALID_BODIES in {__file__}"
    return VALID_BODIES[(method, path)]


# Required query parameters, each filled with the id of the named kind (see ``real_ids``).
REQUIRED_QUERY: dict[str, dict[str, str]] = {
    "/api/investors/{investor_id}/statement": {"fund_id": "fund_id"},
}


def query_for(path: str, ids: dict[str, str]) -> dict[str, str]:
    return {name: ids.get(kind, NO_SUCH_ID) for name, kind in REQUIRED_QUERY.get(path, {}).items()}


def call_route(client: httpx.Client, method: str, path: str, **ids: str) -> httpx.Response:
    """Call the route ``method path`` with its path parameters (and required query) taken from
    ``ids`` and its valid body (JSON or multipart), if any.

    Every call carries a fresh ``Idempotency-Key``, so money routes get past it (others ignore it).
    """
    body = body_for(method, path)
    url = path.format(**ids)
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    params = query_for(path, ids)
    files = files_for(method, path)
    if files is not None:
        return client.request(method, url, files=files, headers=headers, params=params)
    if body is None:
        return client.request(method, url, headers=headers, params=params)
    return client.request(method, url, json=body, headers=headers, params=params)


PATH_PARAMETER = re.compile(r"{([a-z_]+)}")


def money_post(client: httpx.Client, path: str, body: dict[str, Any] | None = None, key: str | None = None) -> Any:
    """POST to a money route with an idempotency key; asserts success and returns the JSON body."""
    headers = {"Idempotency-Key": key or uuid.uuid4().hex}
    response = client.post(path, json=body, headers=headers) if body is not None else client.post(path, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def create_investor(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": "Harbor Pension Plan", "type": "pension", "email": "ops@harbor.example", **fields}
    response = client.post("/api/investors", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_fund(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": "Cornerstone Value Fund I", "currency": "USD", **fields}
    response = client.post("/api/funds", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def commit(client: httpx.Client, fund_id: str, investor_id: str, amount: int) -> dict[str, Any]:
    response = client.post(f"/api/funds/{fund_id}/commitments", json={"investor_id": investor_id, "amount": amount})
    assert response.status_code == 201, response.text
    return dict(response.json())


def fund_scenario(admin: httpx.Client) -> dict[str, str]:
    """Real ids of every fund-operations object: a fund, two investors with commitments, an issued
    and fully paid capital call, and a draft distribution."""
    fund = create_fund(admin, name="Private Fund I")
    first = create_investor(admin, name="Private Pension", tax_id="123-45-6789")
    second = create_investor(admin, name="Private Family Office", type="family_office")
    commit(admin, fund["id"], first["id"], 600_000_00)
    commit(admin, fund["id"], second["id"], 400_000_00)
    call = money_post(
        admin,
        "/api/capital-calls",
        {"fund_id": fund["id"], "amount": 500_000_00, "due_date": "2026-02-01", "purpose": "acquisition"},
    )
    assert admin.post(f"/api/capital-calls/{call['id']}/issue").status_code == 200
    for share in call["allocations"]:
        money_post(
            admin,
            f"/api/capital-calls/{call['id']}/payments",
            {"investor_id": share["investor_id"], "amount": share["amount"], "received_at": "2026-01-20"},
        )
    distribution = money_post(
        admin,
        "/api/distributions",
        {"fund_id": fund["id"], "amount": 50_000_00, "date": "2026-06-30", "method": "waterfall"},
    )
    return {
        "fund_id": fund["id"],
        "investor_id": first["id"],
        "call_id": call["id"],
        "distribution_id": distribution["id"],
    }


def evidence_scenario(admin: httpx.Client) -> dict[str, str]:
    """Real ids of a deal's evidence: a material, an approval of a deal the admin took to IC, and a
    checklist item."""
    deal = create_deal(admin, name="Private Evidence", purchase_price=9_000_000_00)
    for kind in ("rent_roll", "t12"):
        material = supply_material(admin, deal["id"], kind, "HUMAN")
    deal = transition(admin, deal, "underwriting").json()
    supply_material(admin, deal["id"], "underwriting_summary", "HUMAN")
    deal = transition(admin, deal, "ic_review").json()
    approval = admin.post(f"/api/deals/{deal['id']}/approvals", json={"to": "loi", "decision": "approve"})
    assert approval.status_code == 201, approval.text
    return {"material_id": material["id"], "approval_id": approval.json()["id"], "item_id": _checklist_item(admin)}


def _checklist_item(admin: httpx.Client) -> str:
    """A diligence checklist item: of a deal the admin takes to ``psa`` (past IC by an override)."""
    deal = create_deal(admin, name="Private Diligence", purchase_price=7_000_000_00)
    for stage, kinds in (("underwriting", ("rent_roll", "t12")), ("ic_review", ("underwriting_summary",))):
        for kind in kinds:
            supply_material(admin, deal["id"], kind, "HUMAN")
        deal = transition(admin, deal, stage).json()
    attestation = {"to": "loi", "attestation": "The investment committee approved this deal in writing."}
    assert admin.post(f"/api/deals/{deal['id']}/overrides", json=attestation).status_code == 201
    deal = transition(admin, deal, "loi").json()
    supply_material(admin, deal["id"], "executed_loi", "DOC")
    deal = transition(admin, deal, "psa").json()
    return str(admin.get(f"/api/deals/{deal['id']}/checklist").json()["items"][0]["id"])


def real_ids(admin: httpx.Client) -> dict[str, str]:
    """A real object of the admin's org for every path parameter of the API."""
    deal = create_deal(admin, name="Private Holdings", address={"city": "Tenantville"})
    user = admin.post("/api/users", json={"email": f"private-{uuid.uuid4().hex[:8]}@example.test", "role": "gp"})
    assert user.status_code == 201, user.text
    artifact = admin.post(
        f"/api/deals/{deal['id']}/artifacts", files={"file": ("private-notes.txt", b"Private notes\n", "text/plain")}
    )
    assert artifact.status_code == 201, artifact.text
    return {
        "deal_id": deal["id"],
        "user_id": user.json()["id"],
        "artifact_id": artifact.json()["id"],
        **fund_scenario(admin),
        **evidence_scenario(admin),
    }

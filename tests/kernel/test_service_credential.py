"""The kernel answers only holders of the service credential, and only for the org it was minted for.

Runs against the kernel as a real server (`cornerstone kernel`), over real HTTP. The routes are read
from the app itself, so a new route that forgets the credential fails here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from cornerstone.kernel.app import create_app
from cornerstone.kernel.config import KernelSettings
from cornerstone.kit.service_auth import SERVICE_TOKEN_AUDIENCE, SERVICE_TOKEN_ISSUER, mint_service_token
from tests.kernel.conftest import KernelServer
from tests.kernel.helpers import new_org_id

ORG = new_org_id()  # the org every route below is called for
OTHER_ORG = new_org_id()
WRONG_KEY = "not-the-service-key-but-long-enough-for-hs256"


def kernel_routes() -> list[tuple[str, str]]:
    """Every (method, path) of the kernel's API, from the app's own routes (via its OpenAPI document)."""
    app = create_app(KernelSettings(service_key="unused-here"))
    routes = []
    for path, operations in app.openapi()["paths"].items():
        ids = {name: new_org_id() for name in re.findall(r"{([a-z_]+)}", path) if name != "org_id"}
        concrete = path.format(org_id=ORG, **ids)
        routes.extend((method.upper(), concrete) for method in operations)
    return sorted(routes)


ROUTES = kernel_routes()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": SERVICE_TOKEN_ISSUER,
        "aud": SERVICE_TOKEN_AUDIENCE,
        "iat": now,
        "nbf": now - 5,
        "exp": now + 60,
        "org": ORG,
        "act": "user-1",
        "rol": "admin",
        "svc": "bff",
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def hand_signed(header: dict[str, Any], body: dict[str, Any], key: str | None, digest: Any = None) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(body).encode())}"
    signature = b"" if key is None else hmac.new(key.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def with_payload_of(token: str, other: str) -> str:
    """``token``'s header and signature around ``other``'s claims: a forged payload."""
    header, _, signature = token.split(".")
    return f"{header}.{other.split('.')[1]}.{signature}"


BAD_CREDENTIALS: dict[str, Callable[[str], dict[str, str]]] = {
    "no Authorization header": lambda key: {},
    "Basic instead of Bearer": lambda key: {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="},
    "Bearer without a token": lambda key: {"Authorization": "Bearer"},
    "garbage": lambda key: bearer("garbage"),
    "three garbage segments": lambda key: bearer("a.b.c"),
    "signed with the wrong key": lambda key: bearer(jwt.encode(claims(), WRONG_KEY, algorithm="HS256")),
    "minted for another org": lambda key: bearer(
        mint_service_token(key, org_id=OTHER_ORG, actor_id="u", actor_role="admin")
    ),
    "expired": lambda key: bearer(jwt.encode(claims(iat=int(time.time()) - 600, exp=int(time.time()) - 120), key)),
    "not yet valid": lambda key: bearer(jwt.encode(claims(nbf=int(time.time()) + 600), key)),
    "alg none": lambda key: bearer(hand_signed({"alg": "none", "typ": "JWT"}, claims(), None)),
    "alg HS512, right key": lambda key: bearer(
        hand_signed({"alg": "HS512", "typ": "JWT"}, claims(), key, hashlib.sha512)
    ),
    "wrong audience": lambda key: bearer(jwt.encode(claims(aud="cornerstone-bff"), key)),
    "wrong issuer": lambda key: bearer(jwt.encode(claims(iss="someone-else"), key)),
    "audience as a list": lambda key: bearer(jwt.encode(claims(aud=[SERVICE_TOKEN_AUDIENCE]), key)),
    "lifetime of 30 years": lambda key: bearer(jwt.encode(claims(exp=int(time.time()) + 30 * 365 * 86_400), key)),
    "empty actor": lambda key: bearer(jwt.encode(claims(act=""), key)),
    "no org claim": lambda key: bearer(jwt.encode(claims(org=None), key)),
    "no expiry": lambda key: bearer(jwt.encode(claims(exp=None), key)),
    "payload swapped to this org": lambda key: bearer(
        with_payload_of(
            mint_service_token(key, org_id=OTHER_ORG, actor_id="u", actor_role="admin"),
            jwt.encode(claims(), WRONG_KEY, algorithm="HS256"),
        )
    ),
}


def call(client: httpx.Client, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body = {} if method in ("POST", "PATCH", "PUT") else None  # valid JSON, so only the credential is wrong
    return client.request(method, path, headers=headers, json=body)


def assert_unauthorized_problem(response: httpx.Response, where: str) -> None:
    assert response.status_code == 401, f"{where}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"] == "application/problem+json", where
    assert response.headers["www-authenticate"] == "Bearer", where
    body = response.json()
    assert (body["status"], body["code"]) == (401, "UNAUTHORIZED"), where
    assert body["request_id"] == response.headers["x-request-id"], where


def test_the_route_walk_finds_the_deal_and_event_routes() -> None:
    """The walk is read from the app; this guards against it silently finding nothing."""
    prefix = f"/kernel/v1/orgs/{ORG}"
    collections = {(method, path) for method, path in ROUTES if path in (f"{prefix}/deals", f"{prefix}/events")}
    assert collections >= {("GET", f"{prefix}/deals"), ("POST", f"{prefix}/deals"), ("GET", f"{prefix}/events")}
    assert {method for method, path in ROUTES if path.endswith("/transitions")} == {"GET", "POST"}
    one_deal = {method for method, path in ROUTES if "/deals/" in path and not path.endswith("/transitions")}
    assert one_deal >= {"GET", "PATCH"}


@pytest.mark.parametrize("case", sorted(BAD_CREDENTIALS))
def test_every_kernel_route_refuses_a_bad_credential_with_a_401_problem(kernel_server: KernelServer, case: str) -> None:
    headers = BAD_CREDENTIALS[case](kernel_server.key)
    with httpx.Client(base_url=kernel_server.url, timeout=30) as client:
        for method, path in ROUTES:
            assert_unauthorized_problem(call(client, method, path, headers), f"{case}: {method} {path}")


def test_with_a_valid_credential_no_kernel_route_answers_401(kernel_server: KernelServer) -> None:
    """The control for the walk above: the same calls, correctly signed, get past authentication."""
    headers = bearer(mint_service_token(kernel_server.key, org_id=ORG, actor_id="u", actor_role="admin"))
    with httpx.Client(base_url=kernel_server.url, timeout=30) as client:
        statuses = {(method, path): call(client, method, path, headers).status_code for method, path in ROUTES}
    assert [route for route, status in statuses.items() if status == 401] == []
    # 400: a money route without an Idempotency-Key (the walk sends none), past authentication.
    assert set(statuses.values()) <= {200, 201, 400, 404, 422}


def test_a_token_minted_for_org_a_works_on_a_and_is_refused_on_b(kernel_server: KernelServer) -> None:
    org_a, org_b = new_org_id(), new_org_id()
    with kernel_server.api() as api:
        token_a = api.headers(org_a)
        created = api.http.post(
            f"/kernel/v1/orgs/{org_a}/deals", json={"name": "A", "asset_class": "land"}, headers=token_a
        )
        assert created.status_code == 201, created.text
        assert api.http.get(f"/kernel/v1/orgs/{org_a}/deals", headers=token_a).status_code == 200

        deal_id = created.json()["id"]
        for method, path in [
            ("GET", f"/kernel/v1/orgs/{org_b}/deals"),
            ("POST", f"/kernel/v1/orgs/{org_b}/deals"),
            ("GET", f"/kernel/v1/orgs/{org_b}/deals/{deal_id}"),
            ("GET", f"/kernel/v1/orgs/{org_b}/events"),
        ]:
            assert_unauthorized_problem(call(api.http, method, path, token_a), f"{method} {path}")


def test_a_valid_token_of_another_org_does_not_reach_this_orgs_deal(kernel_server: KernelServer) -> None:
    """Tenancy is re-checked by the kernel: org B's credential on org B's path finds nothing of org A."""
    org_a, org_b = new_org_id(), new_org_id()
    with kernel_server.api() as api:
        deal = api.create_deal(org_a)
        response = api.get_deal(org_b, deal["id"])
        missing = api.get_deal(org_b, new_org_id())
    assert (response.status_code, response.json()["code"]) == (404, "DEAL_NOT_FOUND")
    assert {k: v for k, v in response.json().items() if k != "request_id"} == {
        k: v for k, v in missing.json().items() if k != "request_id"
    }


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer garbage"}], ids=["none", "garbage"])
def test_the_probes_need_no_credential(kernel_server: KernelServer, path: str, headers: dict[str, str]) -> None:
    response = httpx.get(kernel_server.url + path, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"

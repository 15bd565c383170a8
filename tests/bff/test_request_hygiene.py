"""Request hygiene over real HTTP: body size (declared and streamed), JSON depth and key count,
CORS (closed by default, an exact allow-list), CSRF for cookie sessions, and the headers every
response keeps, refusals included."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from tests.bff.perimeter_support import (
    RawResponse,
    assert_always_headers,
    audit_rows,
    budget,
    raw_request,
)
from tests.integration.helpers import PROBLEM_KEYS, assert_problem
from tests.support import Databases, Org, Stack, new_org, running_stack, sync_engine

MAX_BODY = 1_048_576  # the default of CORNERSTONE_MAX_BODY_BYTES
ALLOWED_ORIGIN = "https://app.example.test"
HYGIENE_ENV = {"CORNERSTONE_CORS_ORIGINS": f"{ALLOWED_ORIGIN}, https://partner.example.test:8443"}


@pytest.fixture(scope="module")
def hygienic(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack with the default body and JSON limits and a CORS allow-list."""
    with running_stack(databases, tmp_path_factory.mktemp("hygiene"), HYGIENE_ENV) as stack:
        yield stack


@pytest.fixture(scope="module")
def hygienic_org(hygienic: Stack) -> Org:
    return new_org(hygienic)


@pytest.fixture(scope="module")
def bff_db(hygienic: Stack) -> Iterator[Engine]:
    engine = sync_engine(hygienic.databases.bff_url)
    yield engine
    engine.dispose()


def _assert_raw_problem(response: RawResponse, status: int, code: str, request_id: str) -> None:
    assert response.status == status, (response.status, response.body[:500])
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert (body["status"], body["code"], body["request_id"]) == (status, code, request_id)
    assert response.headers["x-request-id"] == request_id
    for name in ("content-security-policy", "strict-transport-security", "x-frame-options", "cache-control"):
        assert name in response.headers, f"{name} missing on the {status}"
    assert "ratelimit" in response.headers


# --- body size -----------------------------------------------------------------------------------


def test_a_declared_oversized_body_is_refused_before_it_is_sent(
    hygienic: Stack, hygienic_org: Org, bff_db: Engine
) -> None:
    """Content-Length says 50 MB, a dozen bytes follow, and the client waits: the answer comes anyway."""
    request_id = f"big-{uuid.uuid4().hex}"
    head = (
        f"POST /api/deals HTTP/1.1\r\nHost: {hygienic.bff.url.removeprefix('http://')}\r\n"
        f"Authorization: Bearer {hygienic_org.admin_token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {50 * 1024 * 1024}\r\nX-Request-ID: {request_id}"
    )
    started = time.monotonic()
    response = raw_request(hygienic.bff.url, head, [b'{"name": "Hu'])
    assert time.monotonic() - started < 10
    _assert_raw_problem(response, 413, "PAYLOAD_TOO_LARGE", request_id)
    assert response.headers["connection"] == "close"
    rows = audit_rows(bff_db, request_id)
    assert [(r["action"], r["status"], r["error_code"]) for r in rows] == [("deal.create", 413, "PAYLOAD_TOO_LARGE")]


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(hygienic: Stack, hygienic_org: Org) -> None:
    """No Content-Length, chunks adding up to just over the limit and no final chunk: the server
    must count while it reads and answer without waiting for an end that never comes."""
    request_id = f"chunked-{uuid.uuid4().hex}"
    head = (
        f"POST /api/deals HTTP/1.1\r\nHost: {hygienic.bff.url.removeprefix('http://')}\r\n"
        f"Authorization: Bearer {hygienic_org.admin_token}\r\nContent-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\nX-Request-ID: {request_id}"
    )
    chunk = b" " * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (MAX_BODY // len(chunk)) + [b"1\r\n \r\n"]
    response = raw_request(hygienic.bff.url, head, chunks)
    _assert_raw_problem(response, 413, "PAYLOAD_TOO_LARGE", request_id)


def test_a_body_at_the_limit_is_read_and_validated(hygienic_org: Org) -> None:
    name = "x" * (MAX_BODY - 200)
    payload = json.dumps({"name": name, "asset_class": "office"}).encode()
    assert len(payload) <= MAX_BODY
    with hygienic_org.client() as admin:
        response = admin.post("/api/deals", content=payload, headers={"content-type": "application/json"})
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert [error["field"] for error in body["errors"]] == ["body.name"]


# --- JSON complexity -----------------------------------------------------------------------------


def _post_json(org: Org, raw: str) -> httpx.Response:
    with org.client() as admin:
        return admin.post("/api/deals", content=raw.encode(), headers={"content-type": "application/json"})


@pytest.mark.parametrize("depth", [33, 900, 100_000])
def test_json_nested_too_deep_is_a_422_problem_not_a_500(hygienic_org: Org, depth: int) -> None:
    raw = '{"name": "Deep", "asset_class": "office", "units": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    response = _post_json(hygienic_org, raw)
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert [(e["field"], e["type"]) for e in body["errors"]] == [("body", "json_too_deep")]
    assert_always_headers(response)


def test_json_at_the_depth_limit_reaches_validation(hygienic_org: Org) -> None:
    raw = '{"name": "Deep", "asset_class": "office", "units": ' + "[" * 31 + "]" * 31 + "}"
    body = assert_problem(_post_json(hygienic_org, raw), 422, "VALIDATION_ERROR")
    assert [e["field"] for e in body["errors"]] == ["body.units"]


def test_json_with_too_many_keys_is_a_short_422_problem(hygienic_org: Org) -> None:
    raw = json.dumps({"name": "Keys", "asset_class": "office", **{f"k{i}": i for i in range(5000)}})
    response = _post_json(hygienic_org, raw)
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert [(e["field"], e["type"]) for e in body["errors"]] == [("body", "json_too_many_keys")]
    assert len(response.content) < 2000, "the answer must not list thousands of fields"


# --- CORS ----------------------------------------------------------------------------------------


def _preflight(
    stack: Stack, origin: str, method: str = "POST", headers: str = "authorization, content-type"
) -> httpx.Response:
    with stack.client() as client:
        return client.options(
            "/api/deals",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": headers,
            },
        )


@pytest.mark.parametrize("origin", [ALLOWED_ORIGIN, "https://partner.example.test:8443"])
def test_a_preflight_from_an_allowed_origin_is_answered(hygienic: Stack, origin: str) -> None:
    response = _preflight(hygienic, origin)
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "x-csrf-token"} <= allowed_headers
    assert "Origin" in response.headers["vary"]
    assert_always_headers(response)


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://app.example.test", "https://app.example.test.evil.example", "null"],
)
def test_a_preflight_from_any_other_origin_is_refused(hygienic: Stack, origin: str) -> None:
    response = _preflight(hygienic, origin)
    assert_problem(response, 403, "CORS_ORIGIN_NOT_ALLOWED")
    assert "access-control-allow-origin" not in response.headers
    assert_always_headers(response)


def test_a_preflight_for_a_header_off_the_list_is_refused(hygienic: Stack) -> None:
    response = _preflight(hygienic, ALLOWED_ORIGIN, headers="x-custom-thing")
    assert_problem(response, 403, "CORS_ORIGIN_NOT_ALLOWED")
    assert "access-control-allow-origin" not in response.headers


def test_cors_is_closed_by_default(stack: Stack) -> None:
    response = _preflight(stack, ALLOWED_ORIGIN)
    assert_problem(response, 403, "CORS_ORIGIN_NOT_ALLOWED")
    with stack.client() as client:
        assert "access-control-allow-origin" not in client.get("/api/me", headers={"Origin": ALLOWED_ORIGIN}).headers


def test_responses_to_an_allowed_origin_expose_the_rate_limit_fields_errors_included(hygienic: Stack) -> None:
    with hygienic.client() as client:
        allowed = client.get("/api/me", headers={"Origin": ALLOWED_ORIGIN})
        other = client.get("/api/me", headers={"Origin": "https://evil.example"})
    assert allowed.status_code == 401
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    exposed = {h.strip().lower() for h in allowed.headers["access-control-expose-headers"].split(",")}
    assert {"ratelimit", "ratelimit-policy", "retry-after", "x-request-id"} <= exposed
    assert "access-control-allow-origin" not in other.headers
    assert "Origin" in other.headers["vary"]


# --- CSRF ----------------------------------------------------------------------------------------

SESSION = {"cs_session": "a-session-id", "cs_csrf": "token-0123456789abcdef"}


def _cookie_post(stack: Stack, headers: dict[str, str], cookies: dict[str, str] = SESSION) -> httpx.Response:
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    with stack.client() as client:
        return client.post(
            "/api/deals", json={"name": "Cookie Tower", "asset_class": "office"}, headers={"Cookie": cookie, **headers}
        )


def _own_origin(stack: Stack) -> str:
    return stack.bff.url


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("no token", {"Origin": "{own}"}),
        ("wrong token", {"Origin": "{own}", "X-CSRF-Token": "token-guessed"}),
        ("foreign origin", {"Origin": "https://evil.example", "X-CSRF-Token": SESSION["cs_csrf"]}),
        ("null origin", {"Origin": "null", "X-CSRF-Token": SESSION["cs_csrf"]}),
        ("no origin or referer", {"X-CSRF-Token": SESSION["cs_csrf"]}),
        ("foreign referer", {"Referer": "https://evil.example/page", "X-CSRF-Token": SESSION["cs_csrf"]}),
    ],
)
def test_a_cookie_session_change_without_the_csrf_proofs_is_refused(
    hygienic: Stack, bff_db: Engine, case: str, headers: dict[str, str]
) -> None:
    request_id = f"csrf-{uuid.uuid4().hex}"
    filled = {name: value.format(own=_own_origin(hygienic)) for name, value in headers.items()}
    response = _cookie_post(hygienic, {**filled, "X-Request-ID": request_id})
    assert_problem(response, 403, "CSRF_FAILED")
    assert_always_headers(response, request_id)
    assert budget(response).name == "default"
    rows = audit_rows(bff_db, request_id)
    assert [(r["action"], r["status"], r["error_code"]) for r in rows] == [("deal.create", 403, "CSRF_FAILED")]


@pytest.mark.parametrize(
    "where_from",
    [{"Origin": "{own}"}, {"Referer": "{own}/deals/new"}, {"Origin": ALLOWED_ORIGIN}],
)
def test_a_cookie_session_change_with_token_and_origin_passes_the_csrf_check(
    hygienic: Stack, where_from: dict[str, str]
) -> None:
    filled = {name: value.format(own=_own_origin(hygienic)) for name, value in where_from.items()}
    response = _cookie_post(hygienic, {**filled, "X-CSRF-Token": SESSION["cs_csrf"]})
    # Past the CSRF layer; the session cookie itself is not (yet) a credential, so: 401.
    assert_problem(response, 401, "UNAUTHORIZED")


def test_bearer_requests_and_reads_are_not_csrf_checked(hygienic: Stack, hygienic_org: Org) -> None:
    cookie = "; ".join(f"{name}={value}" for name, value in SESSION.items())
    with hygienic_org.client() as admin:
        created = admin.post(
            "/api/deals",
            json={"name": "Bearer Tower", "asset_class": "office"},
            headers={"Cookie": cookie, "Origin": "https://evil.example"},
        )
        assert created.status_code == 201, created.text
    with hygienic.client() as anonymous:
        assert anonymous.get("/api/me", headers={"Cookie": cookie}).status_code == 401
    # Other cookies than the session's do not make a request cookie-authenticated.
    assert _cookie_post(hygienic, {}, cookies={"theme": "dark"}).status_code == 401


# --- headers on every answer ---------------------------------------------------------------------


def test_unknown_routes_and_wrong_methods_keep_every_header(hygienic: Stack, hygienic_org: Org) -> None:
    with hygienic_org.client() as admin:
        for method, path, status in [
            ("GET", "/api/no-such-route", 404),
            ("DELETE", "/api/deals", 405),
            ("GET", "/no-such-page", 404),
        ]:
            request_id = f"hdr-{uuid.uuid4().hex}"
            response = admin.request(method, path, headers={"X-Request-ID": request_id})
            assert_problem(response, status)
            assert_always_headers(response, request_id)
            assert budget(response).name == "default"

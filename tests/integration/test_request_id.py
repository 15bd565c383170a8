"""Request ids (ARCHITECTURE.md §3.3) and the headers every response carries (API.md, cross-cutting rules)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.integration.helpers import REQUEST_ID_PATTERN, SECURITY_HEADERS, assert_problem, deal_history
from tests.support import Org, Server, Stack, create_deal, transition, wait_until


def _log_lines(server: Server) -> list[dict[str, Any]]:
    lines = []
    for raw in server.log_text().splitlines():
        try:
            parsed = json.loads(raw)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


def _wait_for_log(server: Server, what: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first JSON log line of ``server`` that ``match``es (logs are flushed asynchronously)."""
    found: dict[str, Any] = wait_until(
        lambda: next((line for line in _log_lines(server) if match(line)), None), 10, what
    )
    return found


def test_a_client_request_id_is_echoed_and_reaches_the_kernel_log_and_the_event(stack: Stack, org: Org) -> None:
    request_id = f"acc-test.req_{uuid.uuid4().hex[:8]}"
    with org.client("gp") as gp:
        response = gp.post(
            "/api/deals", json={"name": "Traced Tower", "asset_class": "office"}, headers={"X-Request-ID": request_id}
        )
        assert response.status_code == 201, response.text
        assert response.headers["x-request-id"] == request_id
        deal = response.json()
        events = deal_history(gp, deal["id"])

    kernel_path = "/kernel/v1/orgs/{org_id}/deals"  # logged as the route template: ids stay out of logs
    kernel_line = _wait_for_log(
        stack.kernel,
        f"a kernel log line for POST {kernel_path} with request_id {request_id}",
        lambda line: line.get("request_id") == request_id and line.get("path") == kernel_path,
    )
    assert kernel_line["method"] == "POST"
    assert kernel_line["status"] == 201
    assert kernel_line["service"] == "kernel"
    assert kernel_line["org_id"] == org.org_id

    bff_line = _wait_for_log(
        stack.bff,
        f"a BFF access log line with request_id {request_id}",
        lambda line: line.get("request_id") == request_id and line.get("path") == "/api/deals",
    )
    assert (bff_line["method"], bff_line["status"], bff_line["service"]) == ("POST", 201, "bff")

    assert [(e["type"], e["request_id"]) for e in events] == [("deal.created", request_id)]


def test_each_write_records_its_own_request_id_in_the_deal_history(org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Many Hands")
        patch_id, move_id = f"patch-{uuid.uuid4().hex}", f"move-{uuid.uuid4().hex}"
        patched = gp.patch(
            f"/api/deals/{deal['id']}", json={"units": 2, "version": 1}, headers={"X-Request-ID": patch_id}
        )
        assert patched.headers["x-request-id"] == patch_id
        material_ids = [f"material-{uuid.uuid4().hex}" for _ in range(2)]
        for kind, material_id in zip(("rent_roll", "t12"), material_ids, strict=True):
            supplied = gp.post(
                f"/api/deals/{deal['id']}/materials",
                json={"type": kind, "truth_class": "HUMAN", "data": {}},
                headers={"X-Request-ID": material_id},
            )
            assert supplied.status_code == 201, supplied.text
        moved = gp.post(
            f"/api/deals/{deal['id']}/transitions",
            json={"to": "underwriting", "version": 2},
            headers={"X-Request-ID": move_id},
        )
        assert moved.status_code == 200, moved.text
        events = deal_history(gp, deal["id"])
    assert [e["request_id"] for e in events[1:]] == [patch_id, *material_ids, move_id]
    # Without a client id the BFF makes one, and it is the one on the created event.
    assert REQUEST_ID_PATTERN.match(events[0]["request_id"])
    assert events[0]["request_id"] not in {patch_id, move_id}


def test_a_request_id_of_128_characters_is_accepted_as_is(org: Org) -> None:
    request_id = "r" * 100 + uuid.uuid4().hex[:28]
    assert len(request_id) == 128
    with org.client() as client:
        response = client.get("/api/deals", headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id


MALFORMED_REQUEST_IDS: dict[str, str | bytes] = {
    "space and bang": "bad id!",
    "200 characters": "a" * 200,
    "129 characters": "a" * 129,
    "empty": "",
    "slashes": "id/with/slashes",
    "tabs": "id\twith\ttabs",
    "markup": "<script>alert(1)</script>",
    "non-ascii bytes": "\u00fcber-id".encode(),
}


def test_a_malformed_request_id_is_replaced_by_a_fresh_valid_one_and_still_echoed(
    org: Org, subtests: pytest.Subtests
) -> None:
    with org.client() as client:
        for case, bad_id in MALFORMED_REQUEST_IDS.items():
            with subtests.test(case):
                sent = bad_id.decode(errors="replace") if isinstance(bad_id, bytes) else bad_id
                body = {"name": "Renamed Request", "asset_class": "land"}
                created = client.post("/api/deals", json=body, headers={"X-Request-ID": bad_id})
                missing = client.get(f"/api/deals/{uuid.uuid4().hex}", headers={"X-Request-ID": bad_id})
                assert created.status_code == 201, created.text
                events = deal_history(client, created.json()["id"])

                created_id, missing_id = created.headers["x-request-id"], missing.headers["x-request-id"]
                for replacement in (created_id, missing_id):
                    assert replacement != sent
                    assert REQUEST_ID_PATTERN.match(replacement), replacement
                assert created_id != missing_id  # fresh per request, not a fixed placeholder
                assert assert_problem(missing, 404)["request_id"] == missing_id
                assert events[0]["request_id"] == created_id


def test_two_requests_without_an_id_get_different_ids(org: Org) -> None:
    with org.client() as client:
        first, second = client.get("/api/deals"), client.get("/api/deals")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert all(REQUEST_ID_PATTERN.match(r.headers["x-request-id"]) for r in (first, second))


# --- headers on every response -----------------------------------------------------------------


def _exchanges(stack: Stack, org: Org) -> dict[str, tuple[int, httpx.Response]]:
    """One response of each kind, from success to every error class the BFF answers today."""
    depth = 3_000
    with org.client() as admin, org.client("lp") as lp, stack.client() as anonymous:
        deal = create_deal(admin, name="Header Hall")
        return {
            "200 list": (200, admin.get("/api/deals")),
            "201 create": (201, admin.post("/api/deals", json={"name": "Another", "asset_class": "office"})),
            "200 me": (200, admin.get("/api/me")),
            "401 bad login": (
                401,
                anonymous.post("/api/auth/token", json={"email": "nobody@example.test", "password": "x"}),
            ),
            "422 nested body": (
                422,
                admin.post(
                    "/api/deals",
                    content=('{"a":' * depth + "1" + "}" * depth).encode(),
                    headers={"Content-Type": "application/json"},
                ),
            ),
            "401 no token": (401, anonymous.get("/api/deals")),
            "403 role": (403, lp.get("/api/deals")),
            "404 deal": (404, admin.get(f"/api/deals/{uuid.uuid4().hex}")),
            "404 route": (404, admin.get("/api/no-such-route")),
            "405 method": (405, admin.put(f"/api/deals/{deal['id']}", json={})),
            "409 conflict": (409, transition(admin, deal, "closed")),
            "422 validation": (422, admin.post("/api/deals", json={"name": ""})),
            "200 healthz": (200, anonymous.get("/healthz")),
            "200 readyz": (200, anonymous.get("/readyz")),
            "200 openapi": (200, anonymous.get("/api/openapi.json")),
        }


def test_every_response_carries_a_request_id_and_the_security_headers_and_no_server_header(
    stack: Stack, org: Org
) -> None:
    exchanges = _exchanges(stack, org)
    for name, (status, response) in exchanges.items():
        headers = response.headers
        assert response.status_code == status, f"{name}: {response.status_code} {response.text[:300]}"
        assert REQUEST_ID_PATTERN.match(headers.get("x-request-id", "")), f"{name}: no X-Request-ID"
        missing = [header for header in SECURITY_HEADERS if header not in headers]
        assert not missing, f"{name}: missing {missing}"
        assert "frame-ancestors 'none'" in headers["content-security-policy"], name
        assert headers["x-frame-options"] == "DENY", name
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["cache-control"] == "no-store", name
        assert "max-age=" in headers["strict-transport-security"], name
        assert "server" not in headers, f"{name}: Server header {headers.get('server')!r}"
        assert "x-powered-by" not in headers, name
        if status >= 400:
            assert_problem(response, status)


def test_a_client_traceparent_is_echoed_forwarded_and_on_both_services_log_lines(stack: Stack, org: Org) -> None:
    trace_id = uuid.uuid4().hex
    parent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Trace Tower")
        response = gp.get(f"/api/deals/{deal['id']}", headers={"traceparent": parent})
        assert response.status_code == 200, response.text
        untraced = gp.get(f"/api/deals/{deal['id']}", headers={"traceparent": "not-a-traceparent"})
    version, echoed_trace, span, flags = response.headers["traceparent"].split("-")
    assert (version, echoed_trace, flags) == ("00", trace_id, "01")
    assert span != parent.split("-")[2]  # the BFF's own span
    # A malformed one starts a new trace rather than being trusted or refused.
    assert untraced.status_code == 200
    assert untraced.headers["traceparent"].split("-")[1] not in {trace_id, "not"}

    request_id = response.headers["x-request-id"]
    kernel_path = "/kernel/v1/orgs/{org_id}/deals/{deal_id}"
    for server, path in ((stack.bff, "/api/deals/{deal_id}"), (stack.kernel, kernel_path)):
        line = _wait_for_log(
            server,
            f"a {server.name} log line of GET {path} in trace {trace_id}",
            lambda line, path=path: line.get("trace_id") == trace_id and line.get("path") == path,
        )
        assert line["request_id"] == request_id
        assert line["status"] == 200

"""Tenancy (ARCHITECTURE.md §3.2): another org's object answers exactly like one that never existed.

The routes are read from the BFF's router, never hand-listed: every route with an id in its
path is walked as soon as it exists, and fails until ``real_ids`` knows how to make a real
object for each of its path parameters (and ``VALID_BODIES`` a body, where it takes one).
"Nothing changed" is judged by every GET route of the API as the owner sees it, so a new read
route widens the check by itself.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.helpers import (
    PATH_PARAMETER,
    assert_problem,
    bff_api_routes,
    call_route,
    list_all_deals,
    query_for,
    real_ids,
    without_request_id,
)
from tests.support import Org, advance, create_deal

ID_ROUTES = sorted(
    (method, route.path)
    for route in bff_api_routes()
    if PATH_PARAMETER.search(route.path)
    for method in route.methods
    if method not in {"HEAD", "OPTIONS"}
)
GET_ROUTES = sorted(route.path for route in bff_api_routes() if "GET" in route.methods)


def test_the_walk_covers_every_id_route_of_the_contract() -> None:
    # If route discovery broke, the walk below would silently shrink.
    assert set(ID_ROUTES) >= {
        ("GET", "/api/deals/{deal_id}"),
        ("PATCH", "/api/deals/{deal_id}"),
        ("GET", "/api/deals/{deal_id}/transitions"),
        ("POST", "/api/deals/{deal_id}/transitions"),
        ("GET", "/api/deals/{deal_id}/history"),
        ("PATCH", "/api/users/{user_id}"),
        ("GET", "/api/funds/{fund_id}"),
        ("POST", "/api/funds/{fund_id}/commitments"),
        ("GET", "/api/investors/{investor_id}"),
        ("GET", "/api/investors/{investor_id}/statement"),
        ("POST", "/api/capital-calls/{call_id}/payments"),
        ("POST", "/api/capital-calls/{call_id}/cancel"),
        ("POST", "/api/distributions/{distribution_id}/approve"),
        ("POST", "/api/distributions/{distribution_id}/pay"),
        ("POST", "/api/deals/{deal_id}/artifacts"),
        ("GET", "/api/deals/{deal_id}/artifacts"),
        ("GET", "/api/artifacts/{artifact_id}/download"),
    }


def test_every_path_parameter_has_a_real_object(org: Org) -> None:
    parameters = {name for _, path in ID_ROUTES for name in PATH_PARAMETER.findall(path)}
    with org.client() as owner:
        made = real_ids(owner).keys()
    assert parameters <= made, f"teach tests.integration.helpers.real_ids to make {sorted(parameters - made)}"


def _org_state(owner: httpx.Client, ids: dict[str, str], at: str) -> dict[str, Any]:
    """Every GET of the API as the owner's admin sees it: any change the intruder made shows here.
    Point-in-time reads are taken at ``at``, so two readings compare what was stored, not the clock."""
    state: dict[str, Any] = {}
    for path in GET_ROUTES:
        if path.startswith("/api/debug/"):
            continue  # live measurements of the system (uptime, latencies), not the org's state
        names = PATH_PARAMETER.findall(path)
        if any(name not in ids for name in names):
            continue
        params = {"limit": 200} if not names else query_for(path, ids)
        if path.endswith("/snapshot"):
            params = {**params, "at": at}
        response = owner.get(path.format(**ids), params=params)
        if response.status_code != 200:
            state[path] = (response.status_code, None)
        elif response.headers["content-type"].startswith("application/json"):
            state[path] = (200, response.json())
        else:  # a download: its bytes
            state[path] = (200, response.content)
    return state


def test_another_orgs_object_is_a_404_byte_identical_to_a_missing_one_on_every_id_route(
    org: Org, other_org: Org, subtests: pytest.Subtests
) -> None:
    with org.client() as owner, other_org.client() as intruder:
        ids = real_ids(owner)
        secrets_of_the_owner = ["Private", "Tenantville", "6789", *ids.values()]
        at = datetime.now(UTC).isoformat()
        before = _org_state(owner, ids, at)
        # The admin reads everything but the lp-only portfolio; with real ids, every read finds its object.
        lp_only = {"/api/portfolio", "/api/portfolio/capital-calls", "/api/portfolio/distributions"}
        assert {path: status for path, (status, _) in before.items() if status != 200} == dict.fromkeys(lp_only, 403)
        for method, path in ID_ROUTES:
            with subtests.test(f"{method} {path}"):
                real = ids
                random = {name: uuid.uuid4().hex for name in ids}
                foreign = call_route(intruder, method, path, **real)
                missing = call_route(intruder, method, path, **random)

                foreign_body = assert_problem(foreign, 404)
                missing_body = assert_problem(missing, 404)
                assert without_request_id(foreign_body) == without_request_id(missing_body)
                assert foreign.headers["content-type"] == missing.headers["content-type"]
                foreign_rid, missing_rid = foreign.headers["x-request-id"], missing.headers["x-request-id"]
                assert foreign.content.replace(foreign_rid.encode(), b"<rid>") == missing.content.replace(
                    missing_rid.encode(), b"<rid>"
                )
                # Nothing of the owner's objects leaks into the answer.
                for secret in secrets_of_the_owner:
                    assert secret not in foreign.text
                assert _org_state(owner, ids, at) == before


def test_another_orgs_list_never_contains_our_deals(org: Org, other_org: Org) -> None:
    marker = uuid.uuid4().hex[:10]
    with org.client() as owner:
        city = {"city": f"City{marker}"}
        ours = {create_deal(owner, name=f"Ours {marker} {i}", address=city)["id"] for i in range(3)}
        moved = create_deal(owner, name=f"Moved {marker}")
        advance(org, moved, "underwriting")
        ours.add(moved["id"])
    with other_org.client() as other_admin:
        theirs = create_deal(other_admin, name=f"Theirs {marker}")["id"]
        listed = {d["id"] for d in list_all_deals(other_admin)}
        by_name = {d["id"] for d in list_all_deals(other_admin, q=marker)}
        by_city = {d["id"] for d in list_all_deals(other_admin, q=f"City{marker}")}
        by_stage = {d["id"] for d in list_all_deals(other_admin, stage="underwriting")}
        small_pages = {d["id"] for d in list_all_deals(other_admin, limit=1)}
    assert listed == {theirs}
    assert by_name == {theirs}
    assert by_city == set()
    assert by_stage == set()
    assert small_pages == {theirs}

    with org.client() as owner:
        assert {d["id"] for d in list_all_deals(owner)} == ours
        assert {d["id"] for d in list_all_deals(owner, q=marker)} == ours


def test_our_cursor_used_by_another_org_reveals_nothing(org: Org, other_org: Org) -> None:
    with org.client() as owner:
        for i in range(3):
            create_deal(owner, name=f"Cursor {i}")
        cursor = owner.get("/api/deals", params={"limit": 1}).json()["next_cursor"]
    assert cursor
    with other_org.client() as other_admin:
        response = other_admin.get("/api/deals", params={"limit": 50, "cursor": cursor})
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []

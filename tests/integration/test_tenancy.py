"""Tenancy (ARCHITECTURE.md §3.2): another org's deal answers exactly like a deal that never existed.

The routes are read from the BFF's router, never hand-listed: a new ``{deal_id}`` route is
walked as soon as it exists (and fails until ``VALID_BODIES`` knows a body for it).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.helpers import (
    assert_problem,
    bff_api_routes,
    call_route,
    deal_history,
    get_deal,
    list_all_deals,
    without_request_id,
)
from tests.support import Org, create_deal, transition

DEAL_ID_ROUTES = sorted(
    (method, route.path)
    for route in bff_api_routes()
    if "{deal_id}" in route.path
    for method in route.methods
    if method not in {"HEAD", "OPTIONS"}
)


def test_the_walk_covers_the_deal_routes_of_the_contract() -> None:
    # If route discovery broke, the walk below would silently shrink.
    assert set(DEAL_ID_ROUTES) >= {
        ("GET", "/api/deals/{deal_id}"),
        ("PATCH", "/api/deals/{deal_id}"),
        ("GET", "/api/deals/{deal_id}/transitions"),
        ("POST", "/api/deals/{deal_id}/transitions"),
        ("GET", "/api/deals/{deal_id}/history"),
    }


def _org_state(client: Any, deal_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return get_deal(client, deal_id), deal_history(client, deal_id)


def test_another_orgs_deal_is_a_404_byte_identical_to_a_missing_one_on_every_deal_route(
    org: Org, other_org: Org, subtests: pytest.Subtests
) -> None:
    with org.client() as owner, other_org.client() as intruder:
        # At version 1, the version the walk's write bodies carry: a leak would be a successful write.
        deal = create_deal(owner, name="Private Holdings", address={"city": "Tenantville"})
        before = _org_state(owner, deal["id"])
        for method, path in DEAL_ID_ROUTES:
            with subtests.test(f"{method} {path}"):
                foreign = call_route(intruder, method, path, deal_id=deal["id"])
                missing = call_route(intruder, method, path, deal_id=uuid.uuid4().hex)

                foreign_body = assert_problem(foreign, 404)
                missing_body = assert_problem(missing, 404)
                assert without_request_id(foreign_body) == without_request_id(missing_body)
                assert foreign.headers["content-type"] == missing.headers["content-type"]
                foreign_rid, missing_rid = foreign.headers["x-request-id"], missing.headers["x-request-id"]
                assert foreign.content.replace(foreign_rid.encode(), b"<rid>") == missing.content.replace(
                    missing_rid.encode(), b"<rid>"
                )
                # Neither the deal id nor anything of the deal leaks into the answer.
                assert deal["id"] not in foreign.text
                assert "Private Holdings" not in foreign.text
                assert _org_state(owner, deal["id"]) == before


def test_another_orgs_list_never_contains_our_deals(org: Org, other_org: Org) -> None:
    marker = uuid.uuid4().hex[:10]
    with org.client() as owner:
        city = {"city": f"City{marker}"}
        ours = {create_deal(owner, name=f"Ours {marker} {i}", address=city)["id"] for i in range(3)}
        moved = create_deal(owner, name=f"Moved {marker}")
        transition(owner, moved, "underwriting")
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

"""The public deal API over real HTTP: create, read, list, search, patch, transitions, history and roles."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

import pytest

from tests.integration.helpers import (
    assert_problem,
    assert_unauthorized,
    assert_validation_problem,
    call_route,
    deal_history,
    get_deal,
    list_all_deals,
    route_calls,
    without_request_id,
)
from tests.support import Org, Stack, advance, create_deal, supply_material, transition

DEAL_ROUTES = route_calls("/api/deals")
WRITE_ROUTES = [(m, p) for m, p in DEAL_ROUTES if m != "GET"]
READ_ROUTES = [(m, p) for m, p in DEAL_ROUTES if m == "GET"]
HEX64 = re.compile(r"^[0-9a-f]{64}$")
OPTIONAL_FIELDS = (
    "square_feet",
    "units",
    "purchase_price",
    "noi",
    "loan_amount",
    "equity_required",
    "projected_irr",
    "projected_multiple",
    "held_from",
)


def _instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def test_the_route_table_has_the_deal_routes_of_the_contract() -> None:
    # Guards the walkers below: if routes vanished they would pass vacuously.
    assert set(DEAL_ROUTES) >= {
        ("GET", "/api/deals"),
        ("POST", "/api/deals"),
        ("GET", "/api/deals/{deal_id}"),
        ("PATCH", "/api/deals/{deal_id}"),
        ("GET", "/api/deals/{deal_id}/transitions"),
        ("POST", "/api/deals/{deal_id}/transitions"),
        ("GET", "/api/deals/{deal_id}/history"),
    }


# --- create and read ---------------------------------------------------------------------------


def test_create_with_only_name_and_asset_class_starts_in_intake_at_version_1_with_defaults(org: Org) -> None:
    with org.client("analyst") as analyst:
        response = analyst.post("/api/deals", json={"name": "  Harbor View  ", "asset_class": "multifamily"})
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    deal = response.json()
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,64}", deal["id"])
    assert deal["name"] == "Harbor View"  # surrounding whitespace is stripped
    assert deal["asset_class"] == "multifamily"
    assert (deal["stage"], deal["phase"], deal["version"]) == ("intake", "draft", 1)
    assert deal["currency"] == "USD"
    assert deal["address"] == {"street": None, "city": None, "state": None, "postal_code": None, "country": None}
    assert {name: deal[name] for name in OPTIONAL_FIELDS} == dict.fromkeys(OPTIONAL_FIELDS)
    assert deal["created_at"] == deal["updated_at"]
    assert deal["created_at"].endswith("Z")


def test_create_with_every_field_returns_them_as_sent(org: Org) -> None:
    fields = {
        "name": "Maple Court",
        "asset_class": "industrial",
        "address": {
            "street": "1 Dock Rd",
            "city": "Austin",
            "state": "TX",
            "postal_code": "78701",
            "country": "US",
        },
        "square_feet": 250_000,
        "units": 12,
        "currency": "EUR",
        "purchase_price": 4_250_000_000,
        "noi": 310_000_000,
        "loan_amount": 2_500_000_000,
        "equity_required": 1_750_000_000,
        "projected_irr": "0.1550",
        "projected_multiple": "1.85",
    }
    with org.client("gp") as gp:
        deal = create_deal(gp, **fields)
        assert {name: deal[name] for name in fields} == fields
        assert get_deal(gp, deal["id"]) == deal


def test_get_returns_the_deal_as_created(org: Org) -> None:
    with org.client() as client:
        created = create_deal(client, name="Pier 9", asset_class="retail", units=3)
        fetched = client.get(f"/api/deals/{created['id']}")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == created


def test_get_of_an_id_that_does_not_exist_is_404_deal_not_found(org: Org) -> None:
    with org.client() as client:
        assert_problem(client.get(f"/api/deals/{uuid.uuid4().hex}"), 404, "DEAL_NOT_FOUND")


# --- list, pagination, filters -----------------------------------------------------------------


def test_list_pages_with_limit_and_cursor_newest_first_each_deal_exactly_once(org: Org) -> None:
    with org.client() as client:
        created = [create_deal(client, name=f"Paged {i}")["id"] for i in range(7)]
        seen: list[str] = []
        page_sizes: list[int] = []
        cursor: str | None = None
        for _ in range(10):
            params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            response = client.get("/api/deals", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            seen.extend(item["id"] for item in page["items"])
            page_sizes.append(len(page["items"]))
            cursor = page["next_cursor"]
            if cursor is None:
                break
        everything = client.get("/api/deals").json()
    assert page_sizes == [3, 3, 1]
    assert seen == list(reversed(created))
    assert len(set(seen)) == len(seen)
    assert [item["id"] for item in everything["items"]] == list(reversed(created))
    assert everything["next_cursor"] is None


def test_a_full_last_page_ends_the_listing_without_an_empty_extra_page(org: Org) -> None:
    with org.client() as client:
        for i in range(4):
            create_deal(client, name=f"Even {i}")
        first = client.get("/api/deals", params={"limit": 2}).json()
        second = client.get("/api/deals", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"] is not None
    assert len(second["items"]) == 2
    assert second["next_cursor"] is None


def test_list_filters_by_stage(org: Org) -> None:
    with org.client() as client:
        moved = create_deal(client, name="Moving On")
        staying = [create_deal(client, name=f"Staying {i}")["id"] for i in range(2)]
        advance(org, moved, "underwriting")
        underwriting = list_all_deals(client, stage="underwriting")
        intake = list_all_deals(client, stage="intake")
        closed = list_all_deals(client, stage="closed")
    assert [(d["id"], d["stage"]) for d in underwriting] == [(moved["id"], "underwriting")]
    assert {d["id"] for d in intake} == set(staying)
    assert closed == []


def test_list_rejects_an_unknown_stage_filter(org: Org) -> None:
    with org.client() as client:
        assert_validation_problem(client.get("/api/deals", params={"stage": "sourcing"}), "query.stage")


def test_q_searches_name_and_city_case_insensitively(org: Org) -> None:
    with org.client() as client:
        harbor = create_deal(client, name="Harbor View", address={"city": "Boston"})["id"]
        maple = create_deal(client, name="Maple Court", address={"city": "Austin"})["id"]
        commons = create_deal(client, name="Boston Commons", address={"city": "Cambridge"})["id"]
        create_deal(client, name="Elsewhere", address={"street": "Harbor Street", "city": "Denver"})

        def found(q: str) -> set[str]:
            return {d["id"] for d in list_all_deals(client, q=q)}

        assert found("harbor") == {harbor}  # name; the street is not searched
        assert found("AUSTIN") == {maple}  # city
        assert found("bost") == {harbor, commons}  # city of one, name of the other
        assert found("no-such-place") == set()


def test_q_treats_like_wildcards_as_literal_text(org: Org) -> None:
    with org.client() as client:
        leased = create_deal(client, name="100% Leased Plaza")["id"]
        underscored = create_deal(client, name="Lot_7")["id"]
        create_deal(client, name="Plain Tower")
        assert {d["id"] for d in list_all_deals(client, q="%")} == {leased}
        assert {d["id"] for d in list_all_deals(client, q="_")} == {underscored}


# --- patch -------------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent_and_bumps_the_version(org: Org) -> None:
    with org.client() as client:
        deal = create_deal(client, name="Pine Yard", units=40, address={"city": "Reno", "state": "NV"})
        response = client.patch(f"/api/deals/{deal['id']}", json={"purchase_price": 990_000_00, "version": 1})
        assert response.status_code == 200, response.text
        patched = response.json()
        assert get_deal(client, deal["id"]) == patched
    assert patched["purchase_price"] == 990_000_00
    assert patched["version"] == 2
    untouched = {k: v for k, v in patched.items() if k not in {"purchase_price", "version", "updated_at"}}
    assert untouched == {k: v for k, v in deal.items() if k not in {"purchase_price", "version", "updated_at"}}
    assert _instant(patched["updated_at"]) > _instant(deal["updated_at"])


def test_patch_with_a_stale_version_is_409_version_conflict_and_changes_nothing(org: Org) -> None:
    with org.client() as client:
        deal = create_deal(client, name="Stale Mill")
        first = client.patch(f"/api/deals/{deal['id']}", json={"units": 10, "version": 1})
        assert first.status_code == 200, first.text
        before = get_deal(client, deal["id"])
        events_before = deal_history(client, deal["id"])

        stale = client.patch(f"/api/deals/{deal['id']}", json={"name": "Overwritten", "units": 99, "version": 1})
        assert_problem(stale, 409, "VERSION_CONFLICT")
        assert get_deal(client, deal["id"]) == before
        assert deal_history(client, deal["id"]) == events_before

        ahead = client.patch(f"/api/deals/{deal['id']}", json={"name": "Overwritten", "version": 7})
        assert_problem(ahead, 409, "VERSION_CONFLICT")
        assert get_deal(client, deal["id"]) == before


def test_patch_with_explicit_null_clears_an_optional_field(org: Org) -> None:
    with org.client() as client:
        deal = create_deal(client, name="Clearing House", units=12, projected_irr="0.12", noi=5_000_00)
        response = client.patch(f"/api/deals/{deal['id']}", json={"units": None, "projected_irr": None, "version": 1})
        assert response.status_code == 200, response.text
        patched = get_deal(client, deal["id"])
    assert (patched["units"], patched["projected_irr"]) == (None, None)
    assert patched["noi"] == 5_000_00  # not sent, so not cleared
    assert patched["version"] == 2


def test_patch_setting_a_required_field_to_null_is_422_and_changes_nothing(org: Org, subtests: pytest.Subtests) -> None:
    with org.client() as client:
        deal = create_deal(client, name="Required Fields")
        for field in ("name", "asset_class", "currency"):
            with subtests.test(field):
                response = client.patch(f"/api/deals/{deal['id']}", json={field: None, "version": 1})
                assert_validation_problem(response, f"body.{field}")
                assert get_deal(client, deal["id"]) == deal


def test_patch_records_the_changes_in_a_deal_updated_event(org: Org) -> None:
    with org.client() as client:
        deal = create_deal(client, name="Audit Trail", units=5)
        client.patch(f"/api/deals/{deal['id']}", json={"units": 6, "name": "Audit Trail", "version": 1})
        events = deal_history(client, deal["id"])
    assert [e["type"] for e in events] == ["deal.created", "deal.updated"]
    # The name was sent unchanged: only real changes are recorded.
    assert events[1]["payload"]["changes"] == {"units": {"from": 5, "to": 6}}
    assert events[1]["payload"]["version"] == 2


# --- transitions and history -------------------------------------------------------------------


def _options(response_json: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {option["to"]: option for option in response_json}


def test_transition_preview_shows_what_each_role_may_do(org: Org) -> None:
    with org.client("gp") as gp, org.client("analyst") as analyst:
        deal = create_deal(gp, name="Preview Point")
        as_gp = gp.get(f"/api/deals/{deal['id']}/transitions")
        as_analyst = analyst.get(f"/api/deals/{deal['id']}/transitions")
    assert as_gp.status_code == 200, as_gp.text
    assert as_analyst.status_code == 200, as_analyst.text
    gp_view, analyst_view = _options(as_gp.json()), _options(as_analyst.json())
    assert set(gp_view) == set(analyst_view) == {"underwriting", "on_hold", "dead"}

    assert gp_view["underwriting"]["permitted"] is True
    # Leaving intake needs a rent roll and a T-12 first (the default gate table).
    assert gp_view["underwriting"]["allowed"] is False
    assert [u["material_type"] for u in gp_view["underwriting"]["unmet"]] == ["rent_roll", "t12"]
    # The gp may pause, but the preview has no reason to give, so it is not allowed yet.
    assert gp_view["on_hold"]["permitted"] is True
    assert gp_view["on_hold"]["allowed"] is False
    assert [u["field"] for u in gp_view["on_hold"]["unmet"]] == ["reason"]

    assert analyst_view["underwriting"]["permitted"] is True
    assert analyst_view["underwriting"]["unmet"] == gp_view["underwriting"]["unmet"]
    assert analyst_view["on_hold"]["permitted"] is False
    assert analyst_view["on_hold"]["allowed"] is False
    assert analyst_view["dead"]["permitted"] is False
    assert sorted(analyst_view["on_hold"]["roles"]) == ["admin", "gp"]


def test_transition_preview_reflects_an_unmet_field_gate(org: Org) -> None:
    with org.client() as client:
        deal = advance(org, create_deal(client, name="Gated"), "underwriting")
        supply_material(client, deal["id"], "underwriting_summary", "HUMAN")
        blocked = _options(client.get(f"/api/deals/{deal['id']}/transitions").json())["ic_review"]
        client.patch(f"/api/deals/{deal['id']}", json={"purchase_price": 1_000_00, "version": deal["version"]})
        unblocked = _options(client.get(f"/api/deals/{deal['id']}/transitions").json())["ic_review"]
    assert (blocked["permitted"], blocked["allowed"]) == (True, False)
    assert [u.get("field") for u in blocked["unmet"]] == ["purchase_price"]
    assert (unblocked["allowed"], unblocked["unmet"]) == (True, [])


def test_transition_to_a_stage_that_is_not_an_edge_is_409_and_changes_nothing(org: Org) -> None:
    with org.client() as client:
        deal = create_deal(client, name="No Shortcut")
        problem = assert_problem(transition(client, deal, "closed"), 409, "DEAL_TRANSITION_NOT_ALLOWED")
        assert get_deal(client, deal["id"]) == deal
    assert (problem["from"], problem["to"]) == ("intake", "closed")


def test_transition_with_a_stale_version_is_409_version_conflict(org: Org) -> None:
    with org.client() as client:
        deal = create_deal(client, name="Old News")
        client.patch(f"/api/deals/{deal['id']}", json={"units": 1, "version": 1})
        assert_problem(transition(client, deal, "underwriting"), 409, "VERSION_CONFLICT")
        assert get_deal(client, deal["id"])["stage"] == "intake"


def test_history_lists_the_deal_events_oldest_first_in_one_hash_chain(org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Chain Gang")
        deal = gp.patch(f"/api/deals/{deal['id']}", json={"units": 8, "version": 1}).json()
        deal = advance(org, deal, "underwriting")
        response = gp.get(f"/api/deals/{deal['id']}/history")
    assert response.status_code == 200, response.text
    page = response.json()
    events = page["items"]
    assert page["next_cursor"] is None
    assert [e["type"] for e in events] == [
        "deal.created",
        "deal.updated",
        "deal.material_revised",
        "deal.material_revised",
        "deal.transitioned",
    ]
    assert all(e["subject_id"] == deal["id"] and e["subject_type"] == "deal" for e in events)
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert [_instant(e["created_at"]) for e in events] == sorted(_instant(e["created_at"]) for e in events)
    assert all(HEX64.match(e["hash"]) and HEX64.match(e["prev_hash"]) for e in events)
    # A fresh org: these are its only events, so each links to the one before, from genesis.
    assert events[0]["prev_hash"] == "0" * 64
    assert [e["prev_hash"] for e in events[1:]] == [e["hash"] for e in events[:-1]]
    assert len({e["hash"] for e in events}) == 5
    assert events[4]["payload"] == {
        "from": "intake",
        "to": "underwriting",
        "reason": None,
        "version": 3,
        "override_id": None,
    }
    assert {e["actor_role"] for e in events} == {"gp"}


def test_history_pages_with_cursor(org: Org) -> None:
    with org.client() as client:
        deal = create_deal(client, name="Long Story")
        for version in range(1, 5):
            assert (
                client.patch(f"/api/deals/{deal['id']}", json={"units": version, "version": version}).status_code == 200
            )
        first = client.get(f"/api/deals/{deal['id']}/history", params={"limit": 3}).json()
        rest = client.get(
            f"/api/deals/{deal['id']}/history", params={"limit": 3, "cursor": first["next_cursor"]}
        ).json()
        everything = deal_history(client, deal["id"])
    assert len(everything) == 5
    assert [e["id"] for e in first["items"] + rest["items"]] == [e["id"] for e in everything]
    assert rest["next_cursor"] is None


# --- roles ---------------------------------------------------------------------------------------


def test_an_lp_is_forbidden_on_every_deal_route(org: Org, subtests: pytest.Subtests) -> None:
    with org.client() as admin, org.client("lp") as lp:
        deal = create_deal(admin, name="Not For Investors")
        for method, path in DEAL_ROUTES:
            with subtests.test(f"{method} {path}"):
                assert_problem(call_route(lp, method, path, deal_id=deal["id"]), 403, "FORBIDDEN")
                assert get_deal(admin, deal["id"]) == deal
                assert len(list_all_deals(admin)) == 1


def test_an_auditor_can_read_every_deal_route(org: Org, subtests: pytest.Subtests) -> None:
    with org.client() as admin, org.client("auditor") as auditor:
        deal = create_deal(admin, name="Open Books")
        for method, path in READ_ROUTES:
            with subtests.test(f"{method} {path}"):
                response = call_route(auditor, method, path, deal_id=deal["id"])
                assert response.status_code == 200, response.text


def test_an_auditor_is_forbidden_on_every_deal_write_and_nothing_changes(org: Org, subtests: pytest.Subtests) -> None:
    with org.client() as admin, org.client("auditor") as auditor:
        deal = create_deal(admin, name="Look Dont Touch")
        events = deal_history(admin, deal["id"])
        for method, path in WRITE_ROUTES:
            with subtests.test(f"{method} {path}"):
                assert_problem(call_route(auditor, method, path, deal_id=deal["id"]), 403, "FORBIDDEN")
                assert get_deal(admin, deal["id"]) == deal
                assert deal_history(admin, deal["id"]) == events
                assert [d["id"] for d in list_all_deals(admin)] == [deal["id"]]


def test_an_analyst_cannot_pause_or_kill_a_deal_but_a_gp_can(org: Org, subtests: pytest.Subtests) -> None:
    with org.client("gp") as gp, org.client("analyst") as analyst:
        for to in ("on_hold", "dead"):
            with subtests.test(to):
                deal = create_deal(gp, name=f"Keep Going {to}")
                problem = assert_problem(transition(analyst, deal, to, reason="Analyst thinks so"), 403, "FORBIDDEN")
                assert sorted(problem["roles"]) == ["admin", "gp"]
                assert get_deal(gp, deal["id"]) == deal
                allowed = transition(gp, deal, to, reason="The gp decides")
                assert allowed.status_code == 200, allowed.text


def test_an_external_user_sees_no_deal_they_are_not_a_party_to(org: Org) -> None:
    with org.client() as admin, org.client("external") as external:
        deal = create_deal(admin, name="Confidential")
        listed = external.get("/api/deals")
        own = external.get(f"/api/deals/{deal['id']}")
        missing = external.get(f"/api/deals/{uuid.uuid4().hex}")
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"items": [], "next_cursor": None}
    body = assert_problem(own, 404, "DEAL_NOT_FOUND")
    assert without_request_id(body) == without_request_id(assert_problem(missing, 404))


def test_every_deal_route_without_a_valid_token_is_401_with_www_authenticate(
    stack: Stack, org: Org, subtests: pytest.Subtests
) -> None:
    with org.client() as admin:
        deal = create_deal(admin, name="Locked")
        unauthenticated = {
            "no header": None,
            "bearer without token": "Bearer",
            "bearer garbage": "Bearer not-a-jwt",
            "basic credentials": "Basic dXNlcjpwYXNz",
            "valid token, wrong scheme": f"Token {org.admin_token}",
        }
        for method, path in DEAL_ROUTES:
            for case, authorization in unauthenticated.items():
                with subtests.test(f"{method} {path}", case=case), stack.client() as anonymous:
                    if authorization is not None:
                        anonymous.headers["Authorization"] = authorization
                    assert_unauthorized(call_route(anonymous, method, path, deal_id=deal["id"]))
        assert get_deal(admin, deal["id"]) == deal
        assert len(list_all_deals(admin)) == 1

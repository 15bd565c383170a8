"""Deal transitions, their preview, versions and the deal list, through the kernel's own HTTP API
(in-process, real database on each backend)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cornerstone.contracts.deals import Stage
from cornerstone.kernel.deals.state_machine import PHASE_OF
from tests.kernel.conftest import KernelServer
from tests.kernel.helpers import PIPELINE, ROLES, SPEC_EDGES, STAGES, KernelApi, KernelDb, new_org_id

PRICE = 12_500_000_00
REASON = "Seller re-pricing"
PROBLEM = "application/problem+json"


def expected_outcome(source: str, target: str, role: str, held_from: str | None) -> tuple[int, str | None]:
    """What the kernel must answer, from the specified edge table (a reason is given, the price is set)."""
    if role == "external":
        return 404, "DEAL_NOT_FOUND"  # external callers see only deals they are party to: none yet
    roles = SPEC_EDGES.get((source, target))
    if roles is None:
        return 409, "DEAL_TRANSITION_NOT_ALLOWED"
    if role not in roles:
        return 403, "FORBIDDEN"
    if source == "on_hold" and target in PIPELINE and target != held_from:
        return 409, "DEAL_GUARD_FAILED"
    return 200, None


def outcome(response: httpx.Response) -> tuple[int, str | None]:
    if response.status_code == 200:
        return 200, None
    assert response.headers["content-type"] == PROBLEM, response.text
    return response.status_code, response.json().get("code")


def held_from_for(source: str) -> str | None:
    return "due_diligence" if source == "on_hold" else None


# --- every (source, target, role) ----------------------------------------------------------------


@pytest.mark.parametrize("source", STAGES)
def test_every_target_and_role_from_a_stage_gets_the_answer_of_the_edge_table(
    kernel: KernelApi, kernel_db: KernelDb, source: str
) -> None:
    org = new_org_id()
    deal = kernel.create_deal(org, purchase_price=PRICE)
    held_from = held_from_for(source)
    kernel_db.force_stage(deal["id"], source, held_from)
    version = deal["version"]
    wrong: list[str] = []
    moved = 0
    for role in ROLES:
        for target in STAGES:
            response = kernel.transition(org, deal["id"], target, version=version, role=role, reason=REASON)
            expected, got = expected_outcome(source, target, role, held_from), outcome(response)
            if got != expected:
                wrong.append(f"{source}->{target} as {role}: expected {expected}, got {got}: {response.text[:300]}")
                continue
            if got[0] == 403:
                assert response.json()["roles"] == sorted(SPEC_EDGES[(source, target)])
            if got[0] == 200:
                body = response.json()
                assert (body["stage"], body["phase"], body["version"]) == (
                    target,
                    PHASE_OF[Stage(target)].value,
                    version + 1,
                )
                assert body["held_from"] == (source if target == "on_hold" else None)
                version = body["version"]
                moved += 1
                kernel_db.force_stage(deal["id"], source, held_from)
    assert wrong == []
    assert moved == sum(
        1 for role in ROLES for target in STAGES if expected_outcome(source, target, role, held_from)[0] == 200
    )


@pytest.mark.parametrize("stage", PIPELINE)
def test_putting_a_deal_on_hold_records_the_stage_it_left_and_only_that_stage_resumes_it(
    kernel: KernelApi, kernel_db: KernelDb, stage: str
) -> None:
    org = new_org_id()
    deal = kernel.create_deal(org, purchase_price=PRICE)
    kernel_db.force_stage(deal["id"], stage)
    held = kernel.transition(org, deal["id"], "on_hold", version=1, role="gp", reason=REASON)
    assert held.status_code == 200, held.text
    assert (held.json()["stage"], held.json()["phase"], held.json()["held_from"]) == ("on_hold", "frozen", stage)

    options = kernel.options(org, deal["id"], role="gp").json()
    assert [o["to"] for o in options if o["allowed"]] == [stage]  # `dead` also needs a reason
    assert [u["field"] for o in options if o["to"] == "dead" for u in o["unmet"]] == ["reason"]

    elsewhere = next(s for s in PIPELINE if s != stage)
    refused = kernel.transition(org, deal["id"], elsewhere, version=2, role="gp")
    assert refused.status_code == 409
    assert [u["check"] for u in refused.json()["unmet"]] == ["resume_stage"]

    resumed = kernel.transition(org, deal["id"], stage, version=2, role="gp")
    assert resumed.status_code == 200, resumed.text
    assert (resumed.json()["stage"], resumed.json()["held_from"], resumed.json()["version"]) == (stage, None, 3)


def test_a_deal_created_through_the_api_starts_in_intake_at_version_1(kernel: KernelApi) -> None:
    deal = kernel.create_deal(new_org_id(), name="Harbor View", asset_class="multifamily")
    assert (deal["stage"], deal["phase"], deal["held_from"], deal["version"]) == ("intake", "draft", None, 1)


# --- the preview agrees with enforcement ---------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_the_preview_lists_the_edges_out_of_a_stage_and_posting_each_gets_what_it_predicted(
    kernel: KernelApi, kernel_db: KernelDb, stage: str
) -> None:
    org = new_org_id()
    held_from = "ic_review" if stage == "on_hold" else None  # on_hold -> ic_review also meets the price gate
    spec_targets = sorted(target for (source, target) in SPEC_EDGES if source == stage)
    checked = {"allowed": 0, "forbidden": 0, "guarded": 0}
    for priced in (True, False):
        deal = kernel.create_deal(org, purchase_price=PRICE if priced else None)
        kernel_db.force_stage(deal["id"], stage, held_from)
        version = deal["version"]
        for role in ROLES:
            if role == "external":
                assert kernel.options(org, deal["id"], role=role).status_code == 404
                continue
            response = kernel.options(org, deal["id"], role=role)
            assert response.status_code == 200, response.text
            options = response.json()
            assert sorted(o["to"] for o in options) == spec_targets
            for option in options:
                roles = SPEC_EDGES[(stage, option["to"])]
                assert option["roles"] == sorted(roles)
                assert option["permitted"] == (role in roles)
                assert option["allowed"] == (option["permitted"] and option["unmet"] == [])
                posted = kernel.transition(org, deal["id"], option["to"], version=version, role=role)
                if option["allowed"]:
                    assert posted.status_code == 200, (option, posted.text)
                    assert posted.json()["stage"] == option["to"]
                    version = posted.json()["version"]
                    kernel_db.force_stage(deal["id"], stage, held_from)
                    checked["allowed"] += 1
                elif not option["permitted"]:
                    assert (posted.status_code, posted.json()["code"]) == (403, "FORBIDDEN"), option
                    checked["forbidden"] += 1
                else:
                    assert (posted.status_code, posted.json()["code"]) == (409, "DEAL_GUARD_FAILED"), option
                    assert posted.json()["unmet"] == option["unmet"]
                    checked["guarded"] += 1
    if stage == "exited":
        assert checked == {"allowed": 0, "forbidden": 0, "guarded": 0}
    else:
        assert checked["allowed"] > 0
        assert checked["forbidden"] > 0
        # Gates bite wherever a reason (on_hold, dead) or the stage left (resuming) is asked for.
        assert (checked["guarded"] > 0) == (stage in (*PIPELINE, "on_hold"))


def test_the_preview_shows_the_price_gate_on_a_deal_without_a_purchase_price(
    kernel: KernelApi, kernel_db: KernelDb
) -> None:
    org = new_org_id()
    deal = kernel.create_deal(org)
    kernel_db.force_stage(deal["id"], "underwriting")
    options = {o["to"]: o for o in kernel.options(org, deal["id"], role="analyst").json()}
    assert options["ic_review"]["permitted"] is True
    assert options["ic_review"]["allowed"] is False
    price_gate = {
        "kind": "field",
        "requirement": "Set the deal's purchase price.",
        "detail": "`purchase_price` is required for this transition and is not set.",
        "field": "purchase_price",
    }
    assert options["ic_review"]["unmet"] == [price_gate]
    posted = kernel.transition(org, deal["id"], "ic_review", version=1, role="analyst")
    assert (posted.status_code, posted.json()["code"]) == (409, "DEAL_GUARD_FAILED")
    assert posted.json()["unmet"] == [price_gate]
    assert (options["on_hold"]["permitted"], options["dead"]["permitted"]) == (False, False)  # analyst


# --- refusals change nothing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "role", "status", "code"),
    [
        ("closed", "admin", 409, "DEAL_TRANSITION_NOT_ALLOWED"),
        ("exited", "gp", 409, "DEAL_TRANSITION_NOT_ALLOWED"),
        ("underwriting", "auditor", 403, "FORBIDDEN"),
        ("on_hold", "analyst", 403, "FORBIDDEN"),
        ("dead", "admin", 409, "DEAL_GUARD_FAILED"),  # no reason
    ],
)
def test_a_refused_transition_changes_neither_the_deal_nor_the_event_log(
    kernel: KernelApi, target: str, role: str, status: int, code: str
) -> None:
    org = new_org_id()
    deal = kernel.create_deal(org)
    before_events = kernel.events(org, subject_id=deal["id"])
    assert [e["type"] for e in before_events] == ["deal.created"]

    refused = kernel.transition(org, deal["id"], target, version=1, role=role)
    assert (refused.status_code, refused.json()["code"]) == (status, code)

    after = kernel.get_deal(org, deal["id"]).json()
    assert (after["stage"], after["version"], after["updated_at"]) == ("intake", 1, deal["updated_at"])
    assert kernel.events(org, subject_id=deal["id"]) == before_events
    assert kernel.events(org) == before_events


def test_a_refused_edge_names_where_the_deal_is_and_where_it_was_sent(kernel: KernelApi) -> None:
    org = new_org_id()
    deal = kernel.create_deal(org)
    refused = kernel.transition(org, deal["id"], "closing", version=1)
    assert refused.status_code == 409
    body = refused.json()
    assert (body["from"], body["to"], body["status"]) == ("intake", "closing", 409)
    assert body["request_id"] == refused.headers["x-request-id"]


def test_an_allowed_transition_appends_exactly_one_event(kernel: KernelApi, kernel_db: KernelDb) -> None:
    org = new_org_id()
    deal = kernel.create_deal(org)
    kernel_db.add_evidence(deal["id"])
    moved = kernel.transition(org, deal["id"], "underwriting", version=1, role="analyst", reason="screened in")
    assert moved.status_code == 200, moved.text
    events = kernel.events(org, subject_id=deal["id"])
    assert [e["type"] for e in events] == ["deal.created", "deal.transitioned"]
    assert events[1]["payload"] == {
        "from": "intake",
        "to": "underwriting",
        "reason": "screened in",
        "version": 2,
        "override_id": None,
    }
    assert (events[1]["actor_id"], events[1]["actor_role"]) == ("user-analyst", "analyst")


# --- versions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stale", [1, 3, 99])
def test_a_transition_with_a_version_other_than_the_current_one_is_a_version_conflict(
    kernel: KernelApi, kernel_db: KernelDb, stale: int
) -> None:
    org = new_org_id()
    deal = kernel.create_deal(org, purchase_price=PRICE)
    kernel_db.add_evidence(deal["id"])
    moved = kernel.transition(org, deal["id"], "underwriting", version=1)
    assert moved.json()["version"] == 2

    conflict = kernel.transition(org, deal["id"], "ic_review", version=stale)
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == PROBLEM
    assert conflict.json()["code"] == "VERSION_CONFLICT"
    current = kernel.get_deal(org, deal["id"]).json()
    assert (current["stage"], current["version"]) == ("underwriting", 2)
    assert len(kernel.events(org, subject_id=deal["id"])) == 2


def test_a_patch_with_a_stale_version_is_a_version_conflict(kernel: KernelApi) -> None:
    org = new_org_id()
    deal = kernel.create_deal(org)
    path = kernel.deals_path(org, deal["id"])
    first = kernel.http.patch(path, json={"noi": 100, "version": 1}, headers=kernel.headers(org))
    assert (first.status_code, first.json()["version"]) == (200, 2)
    second = kernel.http.patch(path, json={"noi": 200, "version": 1}, headers=kernel.headers(org))
    assert (second.status_code, second.json()["code"]) == (409, "VERSION_CONFLICT")
    assert kernel.get_deal(org, deal["id"]).json()["noi"] == 100


def race(kernel_server: KernelServer, attempts: list[Callable[[KernelApi], httpx.Response]]) -> list[httpx.Response]:
    """Fire every attempt at once, each from its own thread and connection."""
    barrier = threading.Barrier(len(attempts))

    def run(attempt: Callable[[KernelApi], httpx.Response]) -> httpx.Response:
        with kernel_server.api() as api:
            barrier.wait(timeout=30)
            return attempt(api)

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return list(pool.map(run, attempts))


def test_of_racing_patches_with_the_same_version_exactly_one_wins(kernel_server: KernelServer) -> None:
    org = new_org_id()
    with kernel_server.api() as api:
        deal = api.create_deal(org)
    path = KernelApi.deals_path(org, deal["id"])

    def patch(noi: int) -> Callable[[KernelApi], httpx.Response]:
        return lambda api: api.http.patch(path, json={"noi": noi, "version": 1}, headers=api.headers(org))

    responses = race(kernel_server, [patch(100 + i) for i in range(8)])
    outcomes = sorted((r.status_code, r.json().get("code")) for r in responses)
    assert outcomes == [(200, None)] + [(409, "VERSION_CONFLICT")] * 7
    winner = next(r.json() for r in responses if r.status_code == 200)
    with kernel_server.api() as api:
        stored = api.get_deal(org, deal["id"]).json()
        events = api.events(org, subject_id=deal["id"])
    assert (stored["version"], stored["noi"]) == (2, winner["noi"])
    assert [e["type"] for e in events] == ["deal.created", "deal.updated"]


def test_of_racing_transitions_from_the_same_version_exactly_one_moves_the_deal(
    kernel_server: KernelServer, kernel_db: KernelDb
) -> None:
    """The losers are refused (409), never applied on top of the winner: one move, one event."""
    org = new_org_id()
    with kernel_server.api() as api:
        deal = api.create_deal(org)
    kernel_db.add_evidence(deal["id"])

    def move(target: str) -> Callable[[KernelApi], httpx.Response]:
        return lambda api: api.transition(org, deal["id"], target, version=1, role="gp", reason=REASON)

    responses = race(kernel_server, [move(t) for t in ["underwriting", "on_hold", "dead", "underwriting"] * 2])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 7
    # The version is checked before the edge, so a loser that reads the winner's stage is told to reload.
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"VERSION_CONFLICT"}
    winner = next(r.json() for r in responses if r.status_code == 200)
    with kernel_server.api() as api:
        events = api.events(org, subject_id=deal["id"])
        stored = api.get_deal(org, deal["id"]).json()
    assert [e["type"] for e in events] == ["deal.created", "deal.transitioned"]
    assert (stored["version"], stored["stage"]) == (2, winner["stage"])
    assert events[1]["payload"]["to"] == winner["stage"]


# --- the deal list -------------------------------------------------------------------------------


def walk_pages(kernel: KernelApi, org: str, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = kernel.list_deals(org, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor never ends"


def test_keyset_pagination_returns_every_deal_exactly_once_newest_first(kernel: KernelApi) -> None:
    org = new_org_id()
    created = [kernel.create_deal(org, name=f"Deal {i}")["id"] for i in range(7)]
    pages = walk_pages(kernel, org, limit=3)
    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [deal_id for page in pages for deal_id in page]
    assert listed == list(reversed(created))


def test_keyset_pagination_never_skips_or_repeats_deals_created_in_the_same_instant(
    kernel: KernelApi, kernel_db: KernelDb
) -> None:
    org = new_org_id()
    created = [kernel.create_deal(org, name=f"Twin {i}")["id"] for i in range(9)]
    kernel_db.set_created_at(created, datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    for limit in (1, 2, 4, 8, 9, 10):
        listed = [deal_id for page in walk_pages(kernel, org, limit=limit) for deal_id in page]
        assert listed == sorted(created, reverse=True), limit


def test_an_exactly_full_last_page_ends_the_walk_without_an_empty_page(kernel: KernelApi) -> None:
    org = new_org_id()
    for i in range(4):
        kernel.create_deal(org, name=f"Deal {i}")
    pages = walk_pages(kernel, org, limit=2)
    assert [len(page) for page in pages] == [2, 2]


def test_the_list_shows_only_the_callers_org(kernel: KernelApi) -> None:
    org, other = new_org_id(), new_org_id()
    mine = kernel.create_deal(org)["id"]
    kernel.create_deal(other)
    assert [item["id"] for item in kernel.list_deals(org).json()["items"]] == [mine]


def test_the_stage_filter_lists_only_deals_in_that_stage(kernel: KernelApi, kernel_db: KernelDb) -> None:
    org = new_org_id()
    deals = [kernel.create_deal(org, name=f"Deal {i}") for i in range(3)]
    kernel_db.add_evidence(deals[1]["id"])
    moved = kernel.transition(org, deals[1]["id"], "underwriting", version=1)
    assert moved.status_code == 200

    def ids(stage: str) -> set[str]:
        response = kernel.list_deals(org, stage=stage)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert ids("underwriting") == {deals[1]["id"]}
    assert ids("intake") == {deals[0]["id"], deals[2]["id"]}
    assert ids("closed") == set()


def test_an_unknown_stage_filter_is_a_validation_problem(kernel: KernelApi) -> None:
    response = kernel.list_deals(new_org_id(), stage="sourcing")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.stage"]


@pytest.fixture
def searchable(kernel: KernelApi) -> tuple[str, dict[str, str]]:
    org = new_org_id()
    names = {
        "harbor": kernel.create_deal(org, name="Harbor View Apartments", address={"city": "Boston"})["id"],
        "spring": kernel.create_deal(org, name="Elm Court", address={"city": "Springfield"})["id"],
        "percent": kernel.create_deal(org, name="100% Occupied Plaza")["id"],
        "thousand": kernel.create_deal(org, name="1000 Main Street")["id"],
        "underscore": kernel.create_deal(org, name="A_B Logistics")["id"],
        "axb": kernel.create_deal(org, name="AxB Logistics")["id"],
        "backslash": kernel.create_deal(org, name="North\\South Tower")["id"],
    }
    return org, names


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("harbor", {"harbor"}),
        ("HARBOR view", {"harbor"}),
        ("springFIELD", {"spring"}),  # city
        ("boston", {"harbor"}),  # city
        ("100%", {"percent"}),  # `%` is a literal, not "anything"
        ("%", {"percent"}),
        ("a_b", {"underscore"}),  # `_` is a literal, not "any one character"
        ("_", {"underscore"}),
        ("h\\s", {"backslash"}),
        ("logistics", {"underscore", "axb"}),
        ("nowhere", set()),
    ],
)
def test_q_matches_name_or_city_case_insensitively_and_literally(
    kernel: KernelApi, searchable: tuple[str, dict[str, str]], q: str, expected: set[str]
) -> None:
    org, names = searchable
    response = kernel.list_deals(org, q=q)
    assert response.status_code == 200, response.text
    by_id = {deal_id: key for key, deal_id in names.items()}
    assert {by_id[item["id"]] for item in response.json()["items"]} == expected


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "Zm9v",  # base64 of "foo": not JSON
        _b64(b"[1]"),
        _b64(b'"ab"'),
        _b64(b"null"),
        _b64(b'{"a": 1, "b": 2}'),
        _b64(b'["yesterday", "x"]'),
        _b64(b"[1, 2]"),
        _b64(b'[null, "x"]'),
        _b64(b'[["2026-01-01T00:00:00Z"], "x"]'),
        _b64(b'["2026-01-01T00:00:00Z", "x", "y"]'),
        _b64(b'["9999-12-31T23:59:59-23:00", "x"]'),  # a valid timestamp past the end of time in UTC
        _b64(b'["0001-01-01T00:00:00+23:00", "x"]'),
        "\u00e9t\u00e9",
        "x" * 600,
    ],
)
def test_a_cursor_the_api_did_not_issue_is_a_validation_problem_naming_it(kernel: KernelApi, cursor: str) -> None:
    response = kernel.list_deals(new_org_id(), cursor=cursor)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert [e["field"] for e in body["errors"]] == ["query.cursor"]
    assert "query.cursor" in body["detail"]

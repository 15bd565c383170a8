"""Gates that hold (ARCHITECTURE.md §2-§3): approvals count people, materials carry a truth class
no caller can claim, parties see only their deals, an override works once. Through the BFF, the
kernel behind it over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from cornerstone.kit.service_auth import mint_service_token
from tests.integration.helpers import assert_problem, assert_validation_problem
from tests.support import (
    TEST_PASSWORD,
    Org,
    Stack,
    advance,
    create_deal,
    login,
    supply_material,
    transition,
    walk,
)


def _unmet(client: httpx.Client, deal_id: str, to: str) -> list[str]:
    options = client.get(f"/api/deals/{deal_id}/transitions").json()
    return [
        u.get("material_type") or u.get("check") or u.get("field") for o in options if o["to"] == to for u in o["unmet"]
    ]


def _approve(client: httpx.Client, deal_id: str, to: str, decision: str = "approve") -> httpx.Response:
    return client.post(f"/api/deals/{deal_id}/approvals", json={"to": to, "decision": decision})


def _deal_at(org: Org, stage: str, **fields: Any) -> dict[str, Any]:
    with org.client("gp") as gp:
        deal = create_deal(gp, purchase_price=18_500_000_00, **fields)
    path = ["underwriting", "ic_review", "loi", "psa", "due_diligence", "financing", "closing", "closed"]
    return walk(org, deal, *path[: path.index(stage) + 1]) if stage != "intake" else deal


def test_leaving_intake_needs_attested_materials_and_the_preview_says_so(org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp)
        assert _unmet(gp, deal["id"], "underwriting") == ["rent_roll", "t12"]
        refused = transition(gp, deal, "underwriting")
        body = assert_problem(refused, 409, "DEAL_GUARD_FAILED")
        assert [u["min_truth_class"] for u in body["unmet"]] == ["HUMAN", "HUMAN"]
        rent_roll = supply_material(gp, deal["id"], "rent_roll", "HUMAN")
        assert rent_roll["attested_by"] is not None
        assert _unmet(gp, deal["id"], "underwriting") == ["t12"]
        supply_material(gp, deal["id"], "t12", "HUMAN")
        assert _unmet(gp, deal["id"], "underwriting") == []
        assert transition(gp, deal, "underwriting").status_code == 200


def test_the_truth_class_is_never_taken_on_the_callers_word(org: Org, stack: Stack) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp)
        doc_without_file = gp.post(
            f"/api/deals/{deal['id']}/materials", json={"type": "rent_roll", "truth_class": "DOC", "data": {}}
        )
        assert_validation_problem(doc_without_file, "body.artifact_id")
        ai_from_a_person = gp.post(
            f"/api/deals/{deal['id']}/materials", json={"type": "rent_roll", "truth_class": "AI", "data": {}}
        )
        assert_validation_problem(ai_from_a_person, "body.truth_class")
        ghost = gp.post(
            f"/api/deals/{deal['id']}/materials",
            json={"type": "rent_roll", "truth_class": "DOC", "artifact_id": uuid.uuid4().hex},
        )
        assert_validation_problem(ghost, "body.artifact_id")
        me = gp.get("/api/me").json()

    # The AI module's own credential: its materials count for nothing until a person verifies them.
    token = mint_service_token(
        stack.env["CORNERSTONE_SERVICE_KEY"], org_id=org.org_id, actor_id=me["id"], actor_role="gp", service="ai"
    )
    extracted = httpx.post(
        f"{stack.kernel.url}/kernel/v1/orgs/{org.org_id}/deals/{deal['id']}/materials",
        json={"type": "rent_roll", "truth_class": "AI", "data": {"occupancy": "91%"}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert extracted.status_code == 201, extracted.text
    material_id = extracted.json()["id"]
    with org.client("gp") as gp:
        supply_material(gp, deal["id"], "t12", "HUMAN")
        assert _unmet(gp, deal["id"], "underwriting") == ["rent_roll"]
    for role in ("lp", "auditor", "external"):
        with org.client(role) as refused:
            assert_problem(refused.post(f"/api/materials/{material_id}/verify"), 403, "FORBIDDEN")
    with org.client("analyst") as analyst:
        verified = analyst.post(f"/api/materials/{material_id}/verify")
        assert verified.status_code == 200, verified.text
        assert (verified.json()["truth_class"], verified.json()["revision"]) == ("HUMAN", 2)
        assert verified.json()["verified_by"] is not None
        assert_problem(analyst.post(f"/api/materials/{material_id}/verify"), 409, "MATERIAL_NOT_VERIFIABLE")
        assert _unmet(analyst, deal["id"], "underwriting") == []


def test_approvals_count_distinct_people_a_denial_blocks_and_a_stage_change_resets_them(org: Org) -> None:
    deal = _deal_at(org, "ic_review")
    with org.client("gp") as gp:
        supply_material(gp, deal["id"], "ic_memo", "HUMAN")
        assert _approve(gp, deal["id"], "loi").status_code == 201
        assert _approve(gp, deal["id"], "loi").status_code == 201
        assert _unmet(gp, deal["id"], "loi") == ["approvals"]  # one person twice is one approval
    with org.client("analyst") as analyst:
        assert_problem(_approve(analyst, deal["id"], "loi"), 403, "FORBIDDEN")
    with org.client("admin") as admin:
        denial = _approve(admin, deal["id"], "loi", "deny")
        assert denial.status_code == 201, denial.text
        assert _unmet(admin, deal["id"], "loi") == ["no_denial"]
    second_gp = org.fresh_token("gp")
    with org.stack.client(second_gp) as other:
        assert _approve(other, deal["id"], "loi").status_code == 201
        assert_problem(other.post(f"/api/approvals/{denial.json()['id']}/withdraw"), 403, "NOT_THE_AUTHOR")
        assert _unmet(other, deal["id"], "loi") == ["no_denial"]
    with org.client("admin") as admin:
        withdrawn = admin.post(f"/api/approvals/{denial.json()['id']}/withdraw")
        assert withdrawn.status_code == 200, withdrawn.text
        assert _unmet(admin, deal["id"], "loi") == []
        # IC sends it back: the approvals of this visit stop counting, even when it returns.
        current = admin.get(f"/api/deals/{deal['id']}").json()
        back = transition(admin, current, "underwriting")
        assert back.status_code == 200, back.text
        again = transition(admin, back.json(), "ic_review")
        assert again.status_code == 200, again.text
        assert _unmet(admin, deal["id"], "loi") == ["approvals"]
        listed = admin.get(f"/api/deals/{deal['id']}/approvals").json()["items"]
        assert listed
        assert not any(item["current"] for item in listed)


def test_the_ic_quorum_is_an_org_setting_that_can_only_be_tightened(org: Org) -> None:
    with org.client("admin") as admin:
        assert admin.get("/api/org/settings").json() == {"ic_quorum": 2}
        assert_validation_problem(admin.patch("/api/org/settings", json={"ic_quorum": 1}), "body.ic_quorum")
        assert admin.patch("/api/org/settings", json={"ic_quorum": 3}).json() == {"ic_quorum": 3}
    with org.client("gp") as gp:
        assert_problem(gp.patch("/api/org/settings", json={"ic_quorum": 4}), 403, "FORBIDDEN")
    deal = _deal_at(org, "ic_review")
    with org.client("gp") as gp:
        supply_material(gp, deal["id"], "ic_memo", "HUMAN")
        _approve(gp, deal["id"], "loi")
    with org.client("admin") as admin:
        _approve(admin, deal["id"], "loi")
        assert _unmet(admin, deal["id"], "loi") == ["approvals"]
    with org.stack.client(org.fresh_token("gp")) as third:
        _approve(third, deal["id"], "loi")
        assert _unmet(third, deal["id"], "loi") == []


def test_an_external_party_sees_only_their_deal_and_approves_only_where_named(org: Org) -> None:
    email = f"escrow-{uuid.uuid4().hex[:8]}@example.test"
    with org.client("admin") as admin:
        user = admin.post("/api/users", json={"email": email, "role": "external", "password": TEST_PASSWORD})
        assert user.status_code == 201, user.text
        not_external = admin.get("/api/me").json()["id"]
    theirs = _deal_at(org, "closing")
    with org.client("gp") as gp:
        other = create_deal(gp, name="Not Their Deal")
        assert_validation_problem(
            gp.post(f"/api/deals/{theirs['id']}/parties", json={"user_id": not_external, "deal_role": "escrow"}),
            "body.user_id",
        )
        party = gp.post(
            f"/api/deals/{theirs['id']}/parties", json={"user_id": user.json()["id"], "deal_role": "escrow"}
        )
        assert party.status_code == 201, party.text
    token = login(org.stack, email, TEST_PASSWORD)
    with org.stack.client(token) as escrow:
        listed = escrow.get("/api/deals").json()["items"]
        assert [d["id"] for d in listed] == [theirs["id"]]
        missing = escrow.get(f"/api/deals/{uuid.uuid4().hex}")
        hidden = escrow.get(f"/api/deals/{other['id']}")
        assert assert_problem(hidden, 404)["code"] == assert_problem(missing, 404)["code"]
        assert_problem(_approve(escrow, other["id"], "closed"), 404)
        for forbidden in ("/api/funds", "/api/investors", "/api/capital-calls", "/api/distributions"):
            assert_problem(escrow.get(forbidden), 403, "FORBIDDEN")
        assert_problem(_approve(escrow, theirs["id"], "dead"), 403, "FORBIDDEN")
        given = _approve(escrow, theirs["id"], "closed")
        assert given.status_code == 201, given.text
        assert given.json()["deal_role"] == "escrow"
    with org.client("gp") as gp:
        supply_material(gp, theirs["id"], "closing_statement", "DOC")
        supply_material(gp, theirs["id"], "wire_confirmation", "DOC")
        assert _unmet(gp, theirs["id"], "closed") == ["approvals"]
        assert _approve(gp, theirs["id"], "closed").status_code == 201
        assert _unmet(gp, theirs["id"], "closed") == []


def test_an_override_is_admin_only_needs_an_attestation_and_works_once(org: Org) -> None:
    deal = _deal_at(org, "loi")
    attestation = {"to": "psa", "attestation": "Seller's counsel holds the executed LOI; scan to follow."}
    with org.client("gp") as gp:
        assert_problem(gp.post(f"/api/deals/{deal['id']}/overrides", json=attestation), 403, "FORBIDDEN")
    with org.client("admin") as admin:
        short = admin.post(f"/api/deals/{deal['id']}/overrides", json={"to": "psa", "attestation": "ok"})
        assert_validation_problem(short, "body.attestation")
        assert _unmet(admin, deal["id"], "psa") == ["executed_loi"]
        created = admin.post(f"/api/deals/{deal['id']}/overrides", json=attestation)
        assert created.status_code == 201, created.text
        assert _unmet(admin, deal["id"], "psa") == []
        current = admin.get(f"/api/deals/{deal['id']}").json()
        moved = transition(admin, current, "psa")
        assert moved.status_code == 200, moved.text
        history = admin.get(f"/api/deals/{deal['id']}/history", params={"limit": 200}).json()["items"]
        used = [e for e in history if e["type"] == "deal.transitioned" and e["payload"]["to"] == "psa"]
        assert used[-1]["payload"]["override_id"] == created.json()["id"]
        assert any(e["type"] == "deal.override_recorded" for e in history)
        # Back to loi by a re-trade: the used override does not carry over.
        back = walk(org, moved.json(), "due_diligence")
        back = transition(admin, back, "loi")
        assert back.status_code == 200, back.text
        assert _unmet(admin, deal["id"], "psa") == ["executed_loi"]


def test_a_gp_walks_a_deal_from_intake_to_closed_by_supplying_what_each_gate_asks(org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Harborline Industrial", asset_class="industrial")
    stages = ["underwriting", "ic_review", "loi", "psa", "due_diligence", "financing", "closing", "closed"]
    for stage in stages:
        deal = advance(org, deal, stage)
        assert deal["stage"] == stage
    with org.client("gp") as gp:
        materials = {m["type"]: m["truth_class"] for m in gp.get(f"/api/deals/{deal['id']}/materials").json()["items"]}
    assert materials["executed_psa"] == "DOC"
    assert materials["closing_statement"] == "DOC"
    assert materials["ic_memo"] == "HUMAN"


def test_racing_transitions_of_one_deal_exactly_one_wins(org: Org) -> None:
    """Eight movers race the same edge from the same version: the gate check and the move happen
    under the deal's lock in one transaction, so exactly one succeeds and one transition is logged."""
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Race Court")
        supply_material(gp, deal["id"], "rent_roll", "HUMAN")
        supply_material(gp, deal["id"], "t12", "HUMAN")
    token = org.token("gp")
    barrier = threading.Barrier(8)

    def move(_: int) -> int:
        with org.stack.client(token) as client:
            barrier.wait()
            return transition(client, deal, "underwriting").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(move, range(8)))
    assert codes == [200] + [409] * 7
    with org.client("gp") as gp:
        history = gp.get(f"/api/deals/{deal['id']}/history").json()["items"]
        assert [e["type"] for e in history].count("deal.transitioned") == 1
        assert gp.get(f"/api/deals/{deal['id']}").json()["version"] == deal["version"] + 1


def _withdraw_while_moving(org: Org, deal: dict[str, Any], vote_id: str) -> tuple[int, int]:
    barrier = threading.Barrier(2)

    def withdraw() -> int:
        with org.client("admin") as admin:
            barrier.wait()
            return admin.post(f"/api/approvals/{vote_id}/withdraw").status_code

    def move() -> int:
        with org.client("gp") as gp:
            barrier.wait()
            return transition(gp, deal, "loi").status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        withdrawn, moved = pool.submit(withdraw), pool.submit(move)
        return withdrawn.result(), moved.result()


def test_an_approval_withdrawn_while_the_deal_moves_is_never_counted_after_it_is_gone(org: Org) -> None:
    """The admin withdraws one of the two IC approvals while a gp moves the deal. The withdrawal and
    the move serialize on the deal: either the move came first (and its event precedes the
    withdrawal's) or it is refused for want of the quorum; never a move on a vote already gone."""
    for _ in range(3):
        with org.client("gp") as gp:
            deal = create_deal(gp, name="Race Row", purchase_price=9_000_000_00)
        deal = walk(org, deal, "underwriting", "ic_review")
        with org.client("gp") as gp:
            supply_material(gp, deal["id"], "ic_memo", "HUMAN")
            assert _approve(gp, deal["id"], "loi").status_code == 201
        with org.client("admin") as admin:
            vote = _approve(admin, deal["id"], "loi").json()
        withdrawn, moved = _withdraw_while_moving(org, deal, vote["id"])
        assert withdrawn == 200
        assert moved in (200, 409)
        with org.client("gp") as gp:
            stage = gp.get(f"/api/deals/{deal['id']}").json()["stage"]
            events = gp.get(f"/api/deals/{deal['id']}/history", params={"limit": 200}).json()["items"]
        kinds = [event["type"] for event in events]
        if moved == 200:
            assert stage == "loi"
            assert kinds.index("deal.transitioned", kinds.index("deal.approval_given")) < kinds.index(
                "deal.approval_withdrawn"
            )
        else:
            assert stage == "ic_review"

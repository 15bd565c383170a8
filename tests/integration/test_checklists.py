"""Diligence checklists: instantiated from the asset class's template when a deal enters ``psa``,
worked item by item (revisions, never edits), gating ``due_diligence -> financing`` on every
required item done or waived. Through the BFF, the kernel over real HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx

from cornerstone.contracts.checklists import ChecklistCategory
from cornerstone.kernel.checklists.templates import template_for
from tests.integration.helpers import assert_problem, assert_validation_problem
from tests.support import Org, create_deal, supply_material, transition, walk

TO_PSA = ("underwriting", "ic_review", "loi", "psa")


def _deal_in(org: Org, *stages: str, asset_class: str = "multifamily", lender: bool = False) -> dict[str, Any]:
    with org.client("gp") as gp:
        deal = create_deal(gp, purchase_price=31_000_000_00, asset_class=asset_class)
    if lender:
        org.lender(deal["id"])  # a party before psa: the lender's items are assigned to them
    return walk(org, deal, *stages)


def _checklist(client: httpx.Client, deal_id: str) -> dict[str, Any]:
    response = client.get(f"/api/deals/{deal_id}/checklist")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _unmet(client: httpx.Client, deal_id: str, to: str) -> list[dict[str, Any]]:
    options = client.get(f"/api/deals/{deal_id}/transitions").json()
    return [unmet for option in options if option["to"] == to for unmet in option["unmet"]]


def test_entering_psa_instantiates_the_asset_class_template_with_due_dates(org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, asset_class="industrial", purchase_price=12_000_000_00)
        assert _checklist(gp, deal["id"]) == {"template": None, "items": []}
    deal = walk(org, deal, *TO_PSA)
    psa_date = date.fromisoformat(deal["updated_at"][:10])
    with org.client("analyst") as analyst:
        checklist = _checklist(analyst, deal["id"])
    name, template = template_for("industrial")
    assert checklist["template"] == name == "industrial"
    assert [item["code"] for item in checklist["items"]] == [item.code for item in template]
    assert len(template) >= 36
    assert {item["category"] for item in checklist["items"]} == {category.value for category in ChecklistCategory}
    for item, expected in zip(checklist["items"], template, strict=True):
        assert item["status"] == "open"
        assert item["revision"] == 1
        assert item["required"] is expected.required
        assert item["due_date"] == (psa_date + timedelta(days=expected.due_days)).isoformat()
    with org.client("gp") as gp:
        history = gp.get(f"/api/deals/{deal['id']}/history").json()
    assert [e["payload"]["template"] for e in history["items"] if e["type"] == "deal.checklist_instantiated"] == [
        "industrial"
    ]


def test_an_asset_class_without_a_template_of_its_own_gets_the_common_items(org: Org) -> None:
    deal = _deal_in(org, *TO_PSA, asset_class="hospitality")
    with org.client("gp") as gp:
        checklist = _checklist(gp, deal["id"])
    assert checklist["template"] == "general"
    assert len(checklist["items"]) == len(template_for(None)[1])


def test_required_items_gate_leaving_diligence_and_a_waiver_needs_a_reason(org: Org) -> None:
    deal = _deal_in(org, *TO_PSA, "due_diligence")
    with org.client("analyst") as analyst:
        items = _checklist(analyst, deal["id"])["items"]
        required = [item for item in items if item["required"]]
        unmet = [u for u in _unmet(analyst, deal["id"], "financing") if u.get("check") == "checklist_complete"]
        assert len(unmet) == 1
        assert unmet[0]["detail"].startswith(f"{len(required)} required items are open: {required[0]['title']};")

        no_reason = analyst.patch(f"/api/checklist-items/{required[0]['id']}", json={"status": "waived"})
        assert_validation_problem(no_reason, "body")
        waived = analyst.patch(
            f"/api/checklist-items/{required[0]['id']}",
            json={"status": "waived", "reason": "Seller's 2024 survey accepted by the lender."},
        )
        assert waived.status_code == 200, waived.text
        assert waived.json()["revision"] == 2
        assert waived.json()["reason"].startswith("Seller's")
        for item in required[1:-1]:
            done = analyst.patch(f"/api/checklist-items/{item['id']}", json={"status": "done"})
            assert done.status_code == 200, done.text
        last = [u for u in _unmet(analyst, deal["id"], "financing") if u.get("check") == "checklist_complete"]
        assert last[0]["detail"] == f"1 required item is open: {required[-1]['title']}."
        in_review = analyst.patch(f"/api/checklist-items/{required[-1]['id']}", json={"status": "in_review"})
        assert in_review.json()["status"] == "in_review"
        assert any(u.get("check") == "checklist_complete" for u in _unmet(analyst, deal["id"], "financing"))
        analyst.patch(f"/api/checklist-items/{required[-1]['id']}", json={"status": "done"})
        # Optional items may stay open; what remains is the gp's approval.
        assert [u["check"] for u in _unmet(analyst, deal["id"], "financing")] == ["approvals"]
        again = analyst.patch(f"/api/checklist-items/{required[-1]['id']}", json={"status": "done"})
        assert again.json()["revision"] == 3  # nothing changed: no new revision


def test_a_re_trade_keeps_the_checklist_and_its_progress(org: Org) -> None:
    deal = _deal_in(org, *TO_PSA, "due_diligence")
    with org.client("gp") as gp:
        before = _checklist(gp, deal["id"])["items"]
        gp.patch(f"/api/checklist-items/{before[0]['id']}", json={"status": "done"})
        deal = transition(gp, deal, "loi").json()
    deal = walk(org, deal, "psa")
    with org.client("gp") as gp:
        after = _checklist(gp, deal["id"])["items"]
    assert [item["id"] for item in after] == [item["id"] for item in before]
    assert after[0]["status"] == "done"


def test_an_external_party_works_only_the_items_assigned_to_them(org: Org) -> None:
    deal = _deal_in(org, *TO_PSA, lender=True)
    other = _deal_in(org, *TO_PSA)
    lender_key = org.lender(deal["id"])
    with org.client(lender_key) as lender:
        lender_id = lender.get("/api/me").json()["id"]
        items = _checklist(lender, deal["id"])["items"]
        mine = [item for item in items if item["owner_id"] == lender_id]
        assert {item["code"] for item in mine} == {"env.reliance", "leases.sndas", "ins.flood"}
        assert all(item["owner_id"] is None for item in items if item["code"].startswith("title."))  # no counsel
        done = lender.patch(f"/api/checklist-items/{mine[0]['id']}", json={"status": "done"})
        assert done.status_code == 200
        assert done.json()["updated_by"] == lender_id
        not_mine = next(item for item in items if item["owner_id"] is None)
        assert_problem(lender.patch(f"/api/checklist-items/{not_mine['id']}", json={"status": "done"}), 403)
        waive = lender.patch(f"/api/checklist-items/{mine[1]['id']}", json={"status": "waived", "reason": "n/a"})
        assert_problem(waive, 403)
        assert lender.get(f"/api/deals/{other['id']}/checklist").status_code == 404
        other_item = None
    with org.client("gp") as gp:
        other_item = _checklist(gp, other["id"])["items"][0]
        # The deal team assigns an item to the lender; only a party of that deal can own it.
        reassigned = gp.patch(f"/api/checklist-items/{not_mine['id']}", json={"status": "open", "owner_id": lender_id})
        assert reassigned.status_code == 200
        assert reassigned.json()["owner_id"] == lender_id
        elsewhere = gp.patch(f"/api/checklist-items/{other_item['id']}", json={"status": "open", "owner_id": lender_id})
        assert_validation_problem(elsewhere, "body.owner_id")
    with org.client(lender_key) as lender:
        assert lender.patch(f"/api/checklist-items/{not_mine['id']}", json={"status": "in_review"}).status_code == 200
        assert_problem(lender.patch(f"/api/checklist-items/{other_item['id']}", json={"status": "done"}), 404)
    with org.client("auditor") as auditor:
        assert _checklist(auditor, deal["id"])["items"]
        assert_problem(auditor.patch(f"/api/checklist-items/{mine[0]['id']}", json={"status": "open"}), 403)
    with org.client("lp") as lp:
        assert_problem(lp.get(f"/api/deals/{deal['id']}/checklist"), 403)


def test_bad_changes_are_refused_and_change_nothing(org: Org) -> None:
    deal = _deal_in(org, *TO_PSA)
    other = _deal_in(org, "underwriting")
    org.token("lp"), org.token("analyst")  # the users exist once they have signed in
    with org.client("admin") as admin:
        users = {user["role"]: user["id"] for user in admin.get("/api/users").json()["items"]}
    with org.client("gp") as gp:
        item = _checklist(gp, deal["id"])["items"][0]
        path = f"/api/checklist-items/{item['id']}"
        assert_validation_problem(gp.patch(path, json={"status": "finished"}), "body.status")
        assert_validation_problem(gp.patch(path, json={"status": "done", "reason": "why not"}), "body")
        assert_validation_problem(gp.patch(path, json={"status": "done", "due_date": "soon"}), "body.due_date")
        assert_validation_problem(gp.patch(path, json={"status": "done", "colour": "red"}), "body.colour")
        stranger = gp.patch(path, json={"status": "done", "owner_id": uuid.uuid4().hex})
        assert_validation_problem(stranger, "body.owner_id")
        assert_validation_problem(gp.patch(path, json={"status": "done", "owner_id": users["lp"]}), "body.owner_id")
        elsewhere = supply_material(gp, other["id"], "executed_loi", "DOC")["artifact_id"]
        assert_validation_problem(gp.patch(path, json={"status": "done", "artifact_id": elsewhere}), "body.artifact_id")
        assert_problem(gp.patch(f"/api/checklist-items/{uuid.uuid4().hex}", json={"status": "done"}), 404)
        assert _checklist(gp, deal["id"])["items"][0] == item

        # A good change: linked to an artifact of this deal, rescheduled, assigned to the analyst.
        own = supply_material(gp, deal["id"], "title_commitment", "DOC")["artifact_id"]
        analyst_id = users["analyst"]
        changed = gp.patch(
            path, json={"status": "in_review", "artifact_id": own, "due_date": "2031-01-15", "owner_id": analyst_id}
        )
        assert changed.status_code == 200, changed.text
        assert {k: changed.json()[k] for k in ("status", "artifact_id", "due_date", "owner_id")} == {
            "status": "in_review",
            "artifact_id": own,
            "due_date": "2031-01-15",
            "owner_id": analyst_id,
        }
        cleared = gp.patch(path, json={"status": "in_review", "due_date": None})
        assert cleared.json()["due_date"] is None
        assert cleared.json()["artifact_id"] == own

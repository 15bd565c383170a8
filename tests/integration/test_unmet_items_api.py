"""The ``unmet`` items through the public API (the BFF, the kernel behind it over real HTTP), as
docs/API.md's contract gives them: exactly ``kind``, ``requirement``, ``detail`` and the keys of
the item's kind, the same in the transitions preview, a refused move's 409 and the snapshot's
gates; an approval item's ``needed`` counts down as distinct people approve."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.helpers import assert_problem
from tests.support import Org, create_deal, supply_material, transition, walk

BASE = {"kind", "requirement", "detail"}
KEYS = {
    "field": BASE | {"field"},
    "check": BASE | {"check"},
    "material": BASE | {"material_type", "min_truth_class", "alternatives"},
    "approval": BASE | {"check", "roles", "needed"},
}


def _unmet(client: httpx.Client, deal_id: str, to: str) -> list[dict[str, Any]]:
    """The preview's unmet items of ``-> to``, each checked against its kind's exact keys."""
    response = client.get(f"/api/deals/{deal_id}/transitions")
    assert response.status_code == 200, response.text
    (option,) = [option for option in response.json() if option["to"] == to]
    for item in option["unmet"]:
        assert set(item) == KEYS[item["kind"]], item
    return list(option["unmet"])


def _approve(client: httpx.Client, deal_id: str, to: str, decision: str = "approve") -> dict[str, Any]:
    given = client.post(f"/api/deals/{deal_id}/approvals", json={"to": to, "decision": decision})
    assert given.status_code == 201, given.text
    return dict(given.json())


def _needed(client: httpx.Client, deal_id: str, to: str) -> list[tuple[str, int]]:
    return [(item["check"], item["needed"]) for item in _unmet(client, deal_id, to) if item["kind"] == "approval"]


def test_material_field_and_check_items_carry_their_kinds_keys_everywhere(org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp)
        materials = _unmet(gp, deal["id"], "underwriting")
        assert materials == [
            {
                "kind": "material",
                "requirement": f"Provide the {label}, attested by a person.",
                "detail": f"No `{kind}` material yet.",
                "material_type": kind,
                "min_truth_class": "HUMAN",
                "alternatives": [],
            }
            for kind, label in (
                ("rent_roll", "current rent roll"),
                ("t12", "trailing-twelve-month operating statement (T-12)"),
            )
        ]
        # A refused move and the snapshot say exactly what the preview says.
        refused = assert_problem(transition(gp, deal, "underwriting"), 409, "DEAL_GUARD_FAILED")
        assert refused["unmet"] == materials
        snapshot = gp.get(f"/api/deals/{deal['id']}/snapshot")
        assert snapshot.status_code == 200, snapshot.text
        (gate,) = [gate for gate in snapshot.json()["gates"] if gate["to"] == "underwriting"]
        assert gate["unmet"] == materials

        assert _unmet(gp, deal["id"], "dead") == [
            {
                "kind": "field",
                "requirement": "Give a reason for this transition.",
                "detail": "`reason` is required for this transition.",
                "field": "reason",
            }
        ]
        held = transition(gp, deal, "on_hold", reason="Seller paused the process")
        assert held.status_code == 200, held.text
        assert _unmet(gp, deal["id"], "underwriting") == [
            {
                "kind": "check",
                "requirement": "A deal on hold returns to the stage it left (intake).",
                "detail": "The deal was put on hold from `intake`, not `underwriting`.",
                "check": "resume_stage",
            }
        ]


def test_an_ic_approval_item_counts_down_distinct_approvers_and_a_denial_counts_nothing(org: Org) -> None:
    with org.client("gp") as gp:
        deal = walk(org, create_deal(gp, purchase_price=18_500_000_00), "underwriting", "ic_review")
        supply_material(gp, deal["id"], "ic_memo", "HUMAN")
        (item,) = _unmet(gp, deal["id"], "loi")
        assert item == {
            "kind": "approval",
            "requirement": "Get 2 approvals from distinct people (admin or gp).",
            "detail": "0 of 2 given.",
            "check": "approvals",
            "roles": ["admin", "gp"],
            "needed": 2,
        }
        _approve(gp, deal["id"], "loi")
        assert _needed(gp, deal["id"], "loi") == [("approvals", 1)]
        _approve(gp, deal["id"], "loi")  # the same person again is still one approval
        assert _needed(gp, deal["id"], "loi") == [("approvals", 1)]
    with org.client("admin") as admin:
        denial = _approve(admin, deal["id"], "loi", "deny")
        assert _unmet(admin, deal["id"], "loi") == [
            {
                "kind": "approval",
                "requirement": "Resolve the denial: its author must withdraw it.",
                "detail": "Denials of this move stand: 1.",
                "check": "no_denial",
                "roles": ["admin", "gp"],
                "needed": 0,
            }
        ]
        withdrawn = admin.post(f"/api/approvals/{denial['id']}/withdraw")
        assert withdrawn.status_code == 200, withdrawn.text
        assert _needed(admin, deal["id"], "loi") == [("approvals", 1)]
    with org.stack.client(org.fresh_token("gp")) as second_gp:
        _approve(second_gp, deal["id"], "loi")
        assert _unmet(second_gp, deal["id"], "loi") == []


def test_financing_lists_its_alternative_and_closing_names_the_lender_by_its_deal_role(org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, purchase_price=18_500_000_00)
    path = ("underwriting", "ic_review", "loi", "psa", "due_diligence", "financing")
    deal = walk(org, deal, *path)
    with org.client("gp") as gp:
        assert _unmet(gp, deal["id"], "closing") == [
            {
                "kind": "material",
                "requirement": "Provide a loan commitment letter (DOC) or an all-equity attestation (HUMAN).",
                "detail": "No `loan_commitment` material yet. Or: No `all_equity_attestation` material yet.",
                "material_type": "loan_commitment",
                "min_truth_class": "DOC",
                "alternatives": [{"material_type": "all_equity_attestation", "min_truth_class": "HUMAN"}],
            }
        ]
        supply_material(gp, deal["id"], "all_equity_attestation", "HUMAN")
        current = gp.get(f"/api/deals/{deal['id']}").json()
        moved = transition(gp, current, "closing")
        assert moved.status_code == 200, moved.text
        supply_material(gp, deal["id"], "closing_statement", "DOC")
        supply_material(gp, deal["id"], "wire_confirmation", "DOC")
        (item,) = _unmet(gp, deal["id"], "closed")
        assert (item["roles"], item["needed"], item["detail"]) == (
            ["escrow", "gp", "lender"],
            2,
            "0 of 2 given; none yet from gp nor the deal's escrow or the deal's lender.",
        )
        _approve(gp, deal["id"], "closed")
        (item,) = _unmet(gp, deal["id"], "closed")
        assert (item["needed"], item["detail"]) == (
            1,
            "1 of 2 given; none yet from the deal's escrow or the deal's lender.",
        )
    with org.client(org.lender(deal["id"])) as lender:
        _approve(lender, deal["id"], "closed")
        assert _unmet(lender, deal["id"], "closed") == []

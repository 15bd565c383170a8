"""The gp's walk of a deal through the pipeline, over the public API, with a real kernel behind it."""

from __future__ import annotations

from tests.support import Org, create_deal, supply_material, transition


def test_gp_walks_a_deal_from_intake_to_ic_review_and_through_a_hold(org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Harbor View Apartments", asset_class="multifamily", units=180)
        assert deal["stage"] == "intake"
        assert deal["phase"] == "draft"
        assert deal["version"] == 1

        for kind in ("rent_roll", "t12"):
            supply_material(gp, deal["id"], kind, "HUMAN")
        moved = transition(gp, deal, "underwriting")
        assert moved.status_code == 200, moved.text
        deal = moved.json()
        assert (deal["stage"], deal["version"]) == ("underwriting", 2)

        supply_material(gp, deal["id"], "underwriting_summary", "HUMAN")
        refused = transition(gp, deal, "ic_review")
        assert refused.status_code == 409
        problem = refused.json()
        assert problem["code"] == "DEAL_GUARD_FAILED"
        assert problem["unmet"] == [
            {
                "kind": "field",
                "requirement": "Set the deal's purchase price.",
                "detail": "`purchase_price` is required for this transition and is not set.",
                "field": "purchase_price",
            }
        ]

        patched = gp.patch(f"/api/deals/{deal['id']}", json={"purchase_price": 4_250_000_000, "version": 2})
        assert patched.status_code == 200, patched.text
        deal = patched.json()
        assert (deal["purchase_price"], deal["version"]) == (4_250_000_000, 3)

        deal = transition(gp, deal, "ic_review").json()
        assert (deal["stage"], deal["phase"]) == ("ic_review", "under_review")

        no_reason = transition(gp, deal, "on_hold")
        assert no_reason.status_code == 409
        assert [u["field"] for u in no_reason.json()["unmet"]] == ["reason"]

        held = transition(gp, deal, "on_hold", reason="Seller re-pricing")
        assert held.status_code == 200, held.text
        deal = held.json()
        assert (deal["stage"], deal["phase"], deal["held_from"]) == ("on_hold", "frozen", "ic_review")

        elsewhere = transition(gp, deal, "underwriting")
        assert elsewhere.status_code == 409
        assert elsewhere.json()["unmet"][0]["check"] == "resume_stage"

        resumed = transition(gp, deal, "ic_review")
        assert resumed.status_code == 200, resumed.text
        deal = resumed.json()
        assert (deal["stage"], deal["held_from"]) == ("ic_review", None)

        history = gp.get(f"/api/deals/{deal['id']}/history").json()["items"]
        assert [event["type"] for event in history] == [
            "deal.created",
            "deal.material_revised",
            "deal.material_revised",
            "deal.transitioned",
            "deal.material_revised",
            "deal.updated",
            "deal.transitioned",
            "deal.transitioned",
            "deal.transitioned",
        ]
        assert [event["payload"].get("to") for event in history if event["type"] == "deal.transitioned"] == [
            "underwriting",
            "ic_review",
            "on_hold",
            "ic_review",
        ]
        assert history[5]["payload"]["changes"] == {"purchase_price": {"from": None, "to": 4_250_000_000}}


def test_a_patch_that_changes_nothing_keeps_the_version_and_records_no_event(org: Org) -> None:
    with org.client("analyst") as analyst:
        deal = create_deal(analyst, name="Quiet Tower", units=10)
        same = analyst.patch(f"/api/deals/{deal['id']}", json={"units": 10, "version": 1})
        assert same.status_code == 200, same.text
        assert same.json()["version"] == 1
        empty = analyst.patch(f"/api/deals/{deal['id']}", json={"version": 1})
        assert empty.json()["version"] == 1
        history = analyst.get(f"/api/deals/{deal['id']}/history").json()["items"]
        assert [event["type"] for event in history] == ["deal.created"]
        stale = analyst.patch(f"/api/deals/{deal['id']}", json={"version": 7})
        assert stale.status_code == 409
        assert stale.json()["code"] == "VERSION_CONFLICT"

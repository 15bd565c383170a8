"""Point-in-time deal snapshots: the stage, votes, materials, checklist and gates of a past
instant, replayed from the records of that time; the same question gives the same bytes. Through
the BFF, the kernel over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.integration.helpers import assert_problem, assert_validation_problem
from tests.support import Org, create_deal, supply_material, transition, walk


def _event_times(client: httpx.Client, deal_id: str) -> list[tuple[str, str]]:
    history = client.get(f"/api/deals/{deal_id}/history", params={"limit": 200})
    assert history.status_code == 200, history.text
    return [(event["type"], event["created_at"]) for event in history.json()["items"]]


def _snapshot(client: httpx.Client, deal_id: str, at: str) -> dict[str, Any]:
    response = client.get(f"/api/deals/{deal_id}/snapshot", params={"at": at})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _unmet(snapshot: dict[str, Any], to: str) -> list[str]:
    gate = next(gate for gate in snapshot["gates"] if gate["to"] == to)
    return [unmet.get("material_type") or unmet.get("check") or unmet.get("field") for unmet in gate["unmet"]]


def test_a_snapshot_shows_the_then_stage_and_the_then_missing_evidence(org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Then And Now", purchase_price=14_000_000_00)
        supply_material(gp, deal["id"], "rent_roll", "HUMAN")
        supply_material(gp, deal["id"], "t12", "HUMAN")
        moved = transition(gp, deal, "underwriting").json()
        patched = gp.patch(f"/api/deals/{deal['id']}", json={"name": "Now Renamed", "version": moved["version"]})
        assert patched.status_code == 200, patched.text
        times = _event_times(gp, deal["id"])
    created, first_material, second_material, moved_at, renamed = (at for _, at in times)
    assert [kind for kind, _ in times] == [
        "deal.created",
        "deal.material_revised",
        "deal.material_revised",
        "deal.transitioned",
        "deal.updated",
    ]

    with org.client("analyst") as analyst:
        at_creation = _snapshot(analyst, deal["id"], created)
        assert at_creation["deal"]["stage"] == "intake"
        assert at_creation["deal"]["version"] == 1
        assert at_creation["materials"] == []
        assert _unmet(at_creation, "underwriting") == ["rent_roll", "t12"]
        assert not next(g for g in at_creation["gates"] if g["to"] == "underwriting")["met"]

        halfway = _snapshot(analyst, deal["id"], first_material)
        assert [m["type"] for m in halfway["materials"]] == ["rent_roll"]
        assert _unmet(halfway, "underwriting") == ["t12"]

        ready = _snapshot(analyst, deal["id"], second_material)
        assert _unmet(ready, "underwriting") == []
        assert ready["deal"]["stage"] == "intake"

        after_move = _snapshot(analyst, deal["id"], moved_at)
        assert after_move["deal"]["stage"] == "underwriting"
        assert after_move["deal"]["phase"] == "draft"
        assert after_move["deal"]["name"] == "Then And Now"
        assert _unmet(after_move, "ic_review") == ["underwriting_summary"]
        assert {gate["to"] for gate in after_move["gates"]} >= {"ic_review", "on_hold", "dead"}

        now = _snapshot(analyst, deal["id"], renamed)
        assert now["deal"]["name"] == "Now Renamed"
        assert now["deal"]["version"] == patched.json()["version"]
        assert now["deal"] == {**patched.json(), "updated_at": now["deal"]["updated_at"]}

        before = datetime.fromisoformat(created) - timedelta(milliseconds=1)
        refused = analyst.get(f"/api/deals/{deal['id']}/snapshot", params={"at": before.isoformat()})
        assert_validation_problem(refused, "query.at")


def test_the_same_instant_gives_the_same_bytes_to_every_reader(org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Same Bytes")
        supply_material(gp, deal["id"], "rent_roll", "HUMAN")
    at = datetime.now(UTC).isoformat()
    bodies = set()
    for role in ("gp", "analyst", "auditor", "admin"):
        with org.client(role) as client:
            for _ in range(2):
                response = client.get(f"/api/deals/{deal['id']}/snapshot", params={"at": at})
                assert response.status_code == 200, response.text
                bodies.add(response.content)
    with org.client("gp") as gp:  # later changes do not reach back
        supply_material(gp, deal["id"], "t12", "HUMAN")
        bodies.add(gp.get(f"/api/deals/{deal['id']}/snapshot", params={"at": at}).content)
    assert len(bodies) == 1


def test_votes_and_checklist_items_are_read_as_they_stood(org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Votes Then", purchase_price=20_000_000_00)
    deal = walk(org, deal, "underwriting", "ic_review")
    with org.client("gp") as gp:
        denial = gp.post(f"/api/deals/{deal['id']}/approvals", json={"to": "loi", "decision": "deny"}).json()
        denied_at = datetime.now(UTC).isoformat()
        assert gp.post(f"/api/approvals/{denial['id']}/withdraw").status_code == 200
    deal = walk(org, deal, "loi", "psa")
    with org.client("gp") as gp:
        item = gp.get(f"/api/deals/{deal['id']}/checklist").json()["items"][0]
        open_at = datetime.now(UTC).isoformat()
        assert gp.patch(f"/api/checklist-items/{item['id']}", json={"status": "done"}).status_code == 200
        now = datetime.now(UTC).isoformat()

        in_ic = _snapshot(gp, deal["id"], denied_at)
        assert in_ic["deal"]["stage"] == "ic_review"
        votes = [(v["decision"], v["current"], v["withdrawn_at"]) for v in in_ic["approvals"]]
        assert votes == [("deny", True, None)]
        assert "no_denial" in _unmet(in_ic, "loi")

        at_psa = _snapshot(gp, deal["id"], open_at)
        assert at_psa["deal"]["stage"] == "psa"
        assert at_psa["checklist"][0]["status"] == "open"
        assert all(not vote["current"] for vote in at_psa["approvals"])  # votes of an earlier visit
        assert any(vote["withdrawn_at"] is not None for vote in at_psa["approvals"])
        latest = _snapshot(gp, deal["id"], now)
        assert latest["checklist"][0]["status"] == "done"
        assert latest["checklist"][0]["revision"] == 2


def test_bad_instants_and_other_peoples_deals_are_refused(org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Refusals")
        other = create_deal(gp, name="Lender's Deal")
    path = f"/api/deals/{deal['id']}/snapshot"
    with org.client("gp") as gp:
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        assert_validation_problem(gp.get(path, params={"at": tomorrow}), "query.at")
        assert_validation_problem(gp.get(path, params={"at": "2026-01-01T00:00:00"}), "query.at")
        assert_validation_problem(gp.get(path, params={"at": "yesterday"}), "query.at")
        current = gp.get(path)  # no instant: now
        assert current.status_code == 200
        assert current.json()["deal"]["name"] == "Refusals"
    lender = org.lender(other["id"])
    with org.client(lender) as external:
        assert_problem(external.get(path), 404)
        assert external.get(f"/api/deals/{other['id']}/snapshot").status_code == 200
    with org.client("lp") as lp:
        assert_problem(lp.get(path), 403)

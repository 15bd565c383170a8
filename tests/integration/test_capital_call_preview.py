"""Previewing a capital call through the public API (kernel over real HTTP, SQLite and PostgreSQL):
the shares shown are exactly those a call then created with the same body gets, and a preview
stores nothing: no call, no share, no event, no ledger entry, no money operation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text

from tests.integration.helpers import assert_problem, commit, create_fund, create_investor, money_post
from tests.support import Org, Stack, sync_engine

KERNEL_TABLES = ("capital_calls", "capital_call_allocations", "events", "ledger_entries", "money_operations")


def _counts(stack: Stack, org_id: str) -> dict[str, int]:
    engine = sync_engine(stack.databases.kernel_url)
    try:
        with engine.connect() as conn:
            counted = {table: text(f"SELECT COUNT(*) FROM {table} WHERE org_id = :org") for table in KERNEL_TABLES}
            return {table: int(conn.execute(query, {"org": org_id}).scalar_one()) for table, query in counted.items()}
    finally:
        engine.dispose()


def _fund(admin: httpx.Client, commitments: tuple[int, ...]) -> tuple[str, list[str]]:
    fund = create_fund(admin, name=f"Preview Fund {uuid.uuid4().hex[:6]}")
    investors = [create_investor(admin, name=f"Preview LP {n}")["id"] for n in range(len(commitments))]
    for investor, amount in zip(investors, commitments, strict=True):
        commit(admin, fund["id"], investor, amount)
    return fund["id"], investors


def _body(fund_id: str, amount: int) -> dict[str, Any]:
    return {"fund_id": fund_id, "amount": amount, "due_date": "2026-09-30", "purpose": "preview check"}


def _previewed_then_created(gp: httpx.Client, fund_id: str, amount: int) -> dict[str, int]:
    previewed = gp.post("/api/capital-calls/preview", json=_body(fund_id, amount))
    assert previewed.status_code == 200, previewed.text
    preview = previewed.json()
    assert (preview["fund_id"], preview["amount"], preview["currency"]) == (fund_id, amount, "USD")
    assert sum(share["amount"] for share in preview["allocations"]) == amount
    created = money_post(gp, "/api/capital-calls", _body(fund_id, amount))
    assert [{"investor_id": s["investor_id"], "amount": s["amount"]} for s in created["allocations"]] == (
        preview["allocations"]
    )
    return {share["investor_id"]: share["amount"] for share in preview["allocations"]}


def test_a_preview_shows_the_shares_the_call_then_created_gets(org: Org) -> None:
    with org.client("gp") as gp:
        fund_id, (first, second) = _fund(gp, (100_00, 100_00))
        # 100.01 over two equal commitments: the odd cent goes to one of them (ties: smaller id).
        assert sorted(_previewed_then_created(gp, fund_id, 100_01).values()) == [50_00, 50_01]
        money_post(gp, "/api/capital-calls", _body(fund_id, 50_00))  # 25.00 each: 49.99 left in all
        late = create_investor(gp, name="Preview LP late")["id"]
        commit(gp, fund_id, late, 100_00)
        # 90.00 pro rata is 30.00 each, more than the first two have uncalled: they are capped at what they
        # have left (24.99 and 25.00) and the late investor gets the rest.
        shares = _previewed_then_created(gp, fund_id, 90_00)
        assert shares[late] == 40_01
        assert sorted([shares[first], shares[second]]) == [24_99, 25_00]


def test_a_preview_stores_nothing_and_is_audited(org: Org, stack: Stack) -> None:
    with org.client("gp") as gp:
        fund_id, _ = _fund(gp, (500_00, 500_00))
        before = _counts(stack, org.org_id)
        request_id = f"preview-{uuid.uuid4().hex}"
        answer = gp.post(
            "/api/capital-calls/preview", json=_body(fund_id, 250_00), headers={"X-Request-ID": request_id}
        )
        assert answer.status_code == 200, answer.text
        refused = gp.post("/api/capital-calls/preview", json=_body(fund_id, 1_000_01))
        assert_problem(refused, 409, "CALL_EXCEEDS_UNFUNDED")
        assert _counts(stack, org.org_id) == before
        assert gp.get("/api/capital-calls", params={"fund_id": fund_id}).json()["items"] == []
        assert gp.get(f"/api/funds/{fund_id}").json()["figures"]["called"] == 0
    with org.client("admin") as admin:
        records = admin.get("/api/audit", params={"request_id": request_id}).json()["items"]
    assert [(r["action"], r["target_id"], r["status"]) for r in records] == [("capital_call.preview", fund_id, 200)]


def test_a_preview_is_refused_as_creating_is(org: Org, other_org: Org) -> None:
    with org.client("gp") as gp:
        fund_id, _ = _fund(gp, (100_00,))
    with org.client("analyst") as analyst:
        assert_problem(analyst.post("/api/capital-calls/preview", json=_body(fund_id, 10_00)), 403, "FORBIDDEN")
    with other_org.client("gp") as stranger:
        assert stranger.post("/api/capital-calls/preview", json=_body(fund_id, 10_00)).status_code == 404
    with org.client("gp") as gp:
        invalid = gp.post("/api/capital-calls/preview", json={**_body(fund_id, 0)})
        assert_problem(invalid, 422, "VALIDATION_ERROR")

"""Previewing a distribution through the public API (kernel over real HTTP, SQLite and PostgreSQL):
the figures creating it would store, computed by the same kernel code, with nothing stored."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.integration.helpers import assert_problem, commit, create_fund, create_investor, money_post
from tests.support import Org, Stack, sync_engine

# Every table a distribution writes to, directly or through its events and money operations.
TOUCHED_TABLES = ("distributions", "distribution_allocations", "ledger_entries", "events", "money_operations")


def _funded(admin: httpx.Client) -> dict[str, Any]:
    """A fund whose three investors paid a 1,000,000.00 call in full on 2025-01-01."""
    fund = create_fund(admin, name=f"Preview Fund {uuid.uuid4().hex[:6]}")
    investors = [create_investor(admin, name=f"Preview LP {n}") for n in range(3)]
    for investor, amount in zip(investors, (5_000_000_00, 3_000_000_00, 2_000_000_00), strict=True):
        commit(admin, fund["id"], investor["id"], amount)
    call = money_post(
        admin,
        "/api/capital-calls",
        {"fund_id": fund["id"], "amount": 1_000_000_00, "due_date": "2025-01-01", "purpose": "acquisition"},
    )
    assert admin.post(f"/api/capital-calls/{call['id']}/issue").status_code == 200
    for share in call["allocations"]:
        money_post(
            admin,
            f"/api/capital-calls/{call['id']}/payments",
            {"investor_id": share["investor_id"], "amount": share["amount"], "received_at": "2025-01-01"},
        )
    return fund


def _counts(stack: Stack, org_id: str) -> dict[str, int]:
    engine = sync_engine(stack.databases.kernel_url)
    try:
        with engine.connect() as conn:
            return {
                table: int(
                    conn.execute(
                        text(f"SELECT count(*) FROM {table} WHERE org_id = :org"), {"org": org_id}
                    ).scalar_one()
                )
                for table in TOUCHED_TABLES
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("method", ["waterfall", "pro_rata"])
def test_a_preview_answers_exactly_what_creating_the_distribution_then_stores(org: Org, method: str) -> None:
    with org.client() as admin:
        fund = _funded(admin)
        body = {
            "fund_id": fund["id"],
            "amount": 1_500_000_00,
            "date": "2026-01-01",
            "method": method,
            "kind": "sale_proceeds",
        }
        preview = admin.post("/api/distributions/preview", json=body)
        assert preview.status_code == 200, preview.text
        created = money_post(admin, "/api/distributions", body)
    shown = preview.json()
    for name in ("fund_id", "amount", "currency", "date", "method", "kind", "allocations", "carried_interest", "tiers"):
        assert shown[name] == created[name], name
    assert sum(a["amount"] for a in shown["allocations"]) + shown["carried_interest"] == 1_500_000_00
    if method == "waterfall":
        # 1,000,000.00 capital, 80,000.00 pref (8 % over 365 days), 20,000.00 catch-up, 400,000.00 split 80/20.
        assert shown["tiers"] == {
            "return_of_capital": 1_000_000_00,
            "preferred_return": 80_000_00,
            "catch_up": 20_000_00,
            "split_lp": 320_000_00,
            "split_gp": 80_000_00,
        }
        assert shown["carried_interest"] == 100_000_00


def test_a_preview_stores_nothing_and_is_audited(org: Org, stack: Stack) -> None:
    with org.client() as admin:
        fund = _funded(admin)
        before = _counts(stack, org.org_id)
        figures = admin.get(f"/api/funds/{fund['id']}").json()["figures"]
        request_id = f"preview-{uuid.uuid4().hex}"
        body = {"fund_id": fund["id"], "amount": 250_000_00, "date": "2026-01-01", "method": "waterfall"}
        preview = admin.post("/api/distributions/preview", json=body, headers={"X-Request-ID": request_id})
        assert preview.status_code == 200, preview.text
        assert _counts(stack, org.org_id) == before
        assert admin.get(f"/api/funds/{fund['id']}").json()["figures"] == figures
        assert admin.get("/api/distributions", params={"fund_id": fund["id"]}).json()["items"] == []
        records = admin.get("/api/audit", params={"request_id": request_id}).json()["items"]
    assert [(r["action"], r["status"]) for r in records] == [("distribution.preview", 200)]


def test_a_preview_is_refused_as_creating_would_be(org: Org) -> None:
    with org.client() as admin:
        empty = create_fund(admin, name=f"Empty Fund {uuid.uuid4().hex[:6]}")
        nothing = admin.post(
            "/api/distributions/preview",
            json={"fund_id": empty["id"], "amount": 100, "date": "2026-01-01", "method": "pro_rata"},
        )
        assert_problem(nothing, 409, "NOTHING_CONTRIBUTED")
        fund = _funded(admin)
        later = money_post(
            admin,
            "/api/distributions",
            {"fund_id": fund["id"], "amount": 100_00, "date": "2026-06-30", "method": "pro_rata"},
        )
    with org.client("gp") as checker:
        assert checker.post(f"/api/distributions/{later['id']}/approve").status_code == 200
        earlier = {"fund_id": fund["id"], "amount": 100_00, "date": "2026-01-01", "method": "waterfall"}
        assert_problem(checker.post("/api/distributions/preview", json=earlier), 409, "DISTRIBUTION_OUT_OF_ORDER")
        invalid = checker.post("/api/distributions/preview", json={**earlier, "amount": 0})
        assert_problem(invalid, 422, "VALIDATION_ERROR")
    for role in ("analyst", "auditor", "lp"):
        with org.client(role) as reader:
            refused = reader.post("/api/distributions/preview", json=earlier)
            assert_problem(refused, 403, "FORBIDDEN")

"""Fund operations through the public API, the kernel behind it over real HTTP, on SQLite and PostgreSQL.

Commitments, capital calls (allocation, issue, payments, cancellation), distributions (pro rata
and waterfall, four eyes, payment), the ledger-derived capital accounts, and the LP portal.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.integration.helpers import (
    assert_problem,
    assert_validation_problem,
    commit,
    create_fund,
    create_investor,
    money_post,
    without_request_id,
)
from tests.support import Org, Stack, create_deal, login, supply_material, sync_engine, transition, walk


def _call(admin: httpx.Client, fund_id: str, amount: int, **extra: Any) -> dict[str, Any]:
    body = {"fund_id": fund_id, "amount": amount, "due_date": "2026-03-31", "purpose": "acquisition", **extra}
    return dict(money_post(admin, "/api/capital-calls", body))


def _pay(admin: httpx.Client, call_id: str, investor_id: str, amount: int, on: str = "2026-03-15") -> httpx.Response:
    return admin.post(
        f"/api/capital-calls/{call_id}/payments",
        json={"investor_id": investor_id, "amount": amount, "received_at": on},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


LP_PASSWORD = "lp-passphrase-long-enough"


def _lp_user(admin: httpx.Client, investor_id: str) -> str:
    """A new lp user signing in for ``investor_id``; their email (password ``LP_PASSWORD``)."""
    email = f"lp-{uuid.uuid4().hex[:8]}@example.test"
    created = admin.post(
        "/api/users", json={"email": email, "role": "lp", "investor_id": investor_id, "password": LP_PASSWORD}
    )
    assert created.status_code == 201, created.text
    return email


def _shares(call: dict[str, Any]) -> dict[str, int]:
    return {share["investor_id"]: share["amount"] for share in call["allocations"]}


@pytest.fixture
def fund(org: Org) -> dict[str, Any]:
    """A fund with three investors committing 5,000,000.00 / 3,000,000.00 / 2,000,000.00."""
    with org.client() as admin:
        created = create_fund(admin)
        investors = [
            create_investor(admin, name="Alpha Pension", type="pension", tax_id="12-3456789"),
            create_investor(admin, name="Beta Family Trust", type="trust"),
            create_investor(admin, name="Gamma Holdings LLC", type="llc"),
        ]
        for investor, amount in zip(investors, (5_000_000_00, 3_000_000_00, 2_000_000_00), strict=True):
            commit(admin, created["id"], investor["id"], amount)
    return {"id": created["id"], "investors": [i["id"] for i in investors]}


def test_a_call_is_allocated_pro_rata_to_the_cent_and_funded_by_its_payments(org: Org, fund: dict[str, Any]) -> None:
    alpha, beta, gamma = fund["investors"]
    with org.client() as admin:
        # 1,000,000.01 over 50/30/20: exact shares 500,000.005 / 300,000.003 / 200,000.002;
        # floors leave one cent, which goes to the largest remainder (alpha's .5 cent).
        call = _call(admin, fund["id"], 1_000_000_01)
        assert call["status"] == "draft"
        assert _shares(call) == {alpha: 500_000_01, beta: 300_000_00, gamma: 200_000_00}
        assert sum(_shares(call).values()) == call["amount"]

        assert _pay(admin, call["id"], alpha, 1).status_code == 409  # not issued yet
        issued = admin.post(f"/api/capital-calls/{call['id']}/issue")
        assert issued.status_code == 200, issued.text
        assert issued.json()["status"] == "issued"

        partial = _pay(admin, call["id"], alpha, 500_000_01)
        assert partial.status_code == 200, partial.text
        assert partial.json()["status"] == "partially_funded"
        assert partial.json()["paid"] == 500_000_01

        over = _pay(admin, call["id"], beta, 300_000_01)
        assert_problem(over, 409, "PAYMENT_EXCEEDS_ALLOCATION")
        assert_problem(_pay(admin, call["id"], alpha, 1), 409, "PAYMENT_EXCEEDS_ALLOCATION")
        assert_problem(admin.post(f"/api/capital-calls/{call['id']}/cancel"), 409, "CALL_HAS_PAYMENTS")

        assert _pay(admin, call["id"], beta, 300_000_00).status_code == 200
        funded = _pay(admin, call["id"], gamma, 200_000_00)
        assert funded.json()["status"] == "funded"
        assert all(share["paid"] == share["amount"] for share in funded.json()["allocations"])

        figures = admin.get(f"/api/funds/{fund['id']}").json()["figures"]
        assert figures["committed"] == 10_000_000_00
        assert figures["contributed"] == 1_000_000_01
        assert figures["called"] == 1_000_000_01


def test_calls_never_exceed_what_is_uncalled(org: Org, fund: dict[str, Any]) -> None:
    with org.client() as admin:
        first = _call(admin, fund["id"], 9_000_000_00)
        too_much = admin.post(
            "/api/capital-calls",
            json={"fund_id": fund["id"], "amount": 1_000_000_01, "due_date": "2026-04-30", "purpose": "capex"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        body = assert_problem(too_much, 409, "CALL_EXCEEDS_UNFUNDED")
        assert body["uncalled"] == 1_000_000_00
        # Cancelling the first (nothing paid) frees its amount again.
        cancelled = admin.post(f"/api/capital-calls/{first['id']}/cancel")
        assert cancelled.json()["status"] == "cancelled"
        again = _call(admin, fund["id"], 10_000_000_00)
        assert sum(_shares(again).values()) == 10_000_000_00
        assert admin.post(f"/api/capital-calls/{first['id']}/issue").status_code == 409


def test_an_investor_short_of_uncalled_commitment_is_capped_and_the_rest_spread(org: Org) -> None:
    with org.client() as admin:
        fund = create_fund(admin)
        big, small = create_investor(admin, name="Big"), create_investor(admin, name="Small")
        commit(admin, fund["id"], big["id"], 900_00)
        commit(admin, fund["id"], small["id"], 100_00)
        _call(admin, fund["id"], 850_00)  # 765.00 / 85.00: small has 15.00 left, big 135.00
        capped = _call(admin, fund["id"], 150_00)
        # Pro rata would ask small for 15.00 exactly; ask 150.00 -> 135.00 / 15.00, never above the caps.
        assert _shares(capped) == {big["id"]: 135_00, small["id"]: 15_00}


def test_a_waterfall_distribution_is_split_by_tier_and_approved_by_a_second_person(
    org: Org, fund: dict[str, Any]
) -> None:
    alpha, beta, gamma = fund["investors"]
    with org.client() as admin:
        call = _call(admin, fund["id"], 1_000_000_00)
        admin.post(f"/api/capital-calls/{call['id']}/issue")
        for investor, amount in _shares(call).items():
            assert _pay(admin, call["id"], investor, amount, on="2025-01-01").status_code == 200
        # 2025-01-01 -> 2026-01-01 is 365 days: an 8 % pref compounding annually is exactly 80,000.00.
        # 1,500,000.00 = 1,000,000.00 capital + 80,000.00 pref + 20,000.00 catch-up (100 % to the GP
        # until it holds 20 % of the 100,000.00 profit) + 400,000.00 split 80/20.
        created = money_post(
            admin,
            "/api/distributions",
            {"fund_id": fund["id"], "amount": 1_500_000_00, "date": "2026-01-01", "method": "waterfall"},
        )
    assert created["status"] == "draft"
    assert created["tiers"] == {
        "return_of_capital": 1_000_000_00,
        "preferred_return": 80_000_00,
        "catch_up": 20_000_00,
        "split_lp": 320_000_00,
        "split_gp": 80_000_00,
    }
    assert created["carried_interest"] == 100_000_00
    assert sum(a["amount"] for a in created["allocations"]) + created["carried_interest"] == 1_500_000_00
    assert {a["investor_id"]: a["amount"] for a in created["allocations"]} == {
        alpha: 700_000_00,
        beta: 420_000_00,
        gamma: 280_000_00,
    }

    with org.client() as admin:
        assert_problem(admin.post(f"/api/distributions/{created['id']}/approve"), 409, "FOUR_EYES_REQUIRED")
        unapproved = admin.post(f"/api/distributions/{created['id']}/pay", headers={"Idempotency-Key": "p-1"})
        assert_problem(unapproved, 409, "DISTRIBUTION_STATE_CONFLICT")
    with org.client("gp") as checker:
        approved = checker.post(f"/api/distributions/{created['id']}/approve")
        assert approved.status_code == 200, approved.text
        assert approved.json()["approved_by"] != created["created_by"]
        paid = money_post(checker, f"/api/distributions/{created['id']}/pay")
        assert paid["status"] == "paid"
        figures = checker.get(f"/api/funds/{fund['id']}").json()["figures"]
    assert figures["distributed"] == 1_400_000_00
    assert figures["carried_interest"] == 100_000_00
    assert figures["dpi"] == "1.4000"


def test_distributions_are_refused_before_any_capital_and_out_of_date_order(org: Org, fund: dict[str, Any]) -> None:
    with org.client() as admin:
        early = admin.post(
            "/api/distributions",
            json={"fund_id": fund["id"], "amount": 100, "date": "2026-01-01", "method": "pro_rata"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert_problem(early, 409, "NOTHING_CONTRIBUTED")
        invalid = admin.post(
            "/api/distributions",
            json={"fund_id": fund["id"], "amount": 0, "date": "2026-01-01", "method": "magic"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert_validation_problem(invalid, "body.amount", "body.method")


def test_investor_identifiers_are_stored_encrypted_and_returned_masked(org: Org, stack: Stack) -> None:
    with org.client() as admin:
        investor = create_investor(
            admin, name="Delta Individual", type="individual", tax_id="123-45-6789", bank_account="000123456789"
        )
        listed = admin.get("/api/investors").json()["items"]
    assert investor["tax_id"] == "***-**-6789"
    assert investor["bank_account"] == "********6789"
    assert investor["bank_routing"] is None
    assert next(i for i in listed if i["id"] == investor["id"])["tax_id"] == "***-**-6789"
    engine = sync_engine(stack.databases.kernel_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT * FROM investors WHERE id = :id"), {"id": investor["id"]}).mappings().one()
            events = conn.execute(text("SELECT payload FROM events WHERE subject_id = :id"), {"id": investor["id"]})
            payloads = " ".join(events.scalars())
    finally:
        engine.dispose()
    stored = " ".join(str(value) for value in row.values())
    for secret in ("123-45-6789", "123456789", "000123456789"):
        assert secret not in stored
        assert secret not in payloads
    assert row["tax_id_encrypted"].startswith("v1.")


def test_the_lp_sees_only_their_own_investor_and_real_figures(org: Org, fund: dict[str, Any]) -> None:
    alpha, beta, _ = fund["investors"]
    with org.client() as admin:
        call = _call(admin, fund["id"], 2_000_000_00)
        admin.post(f"/api/capital-calls/{call['id']}/issue")
        for investor, amount in _shares(call).items():
            _pay(admin, call["id"], investor, amount, on="2025-01-01")
        distribution = money_post(
            admin,
            "/api/distributions",
            {"fund_id": fund["id"], "amount": 500_000_00, "date": "2025-12-31", "method": "pro_rata"},
        )
        valuation = admin.post(f"/api/funds/{fund['id']}/valuations", json={"as_of": "2025-12-31", "nav": 2_000_000_00})
        assert valuation.status_code == 201, valuation.text
        lp_email = _lp_user(admin, alpha)
    with org.client("gp") as checker:
        checker.post(f"/api/distributions/{distribution['id']}/approve")
        money_post(checker, f"/api/distributions/{distribution['id']}/pay")

    token = login(org.stack, lp_email, LP_PASSWORD)
    with org.stack.client(token) as lp:
        portfolio = lp.get("/api/portfolio")
        assert portfolio.status_code == 200, portfolio.text
        (position,) = portfolio.json()["funds"]
        # Alpha holds 50 % of the commitments: half of every flow and of the NAV.
        assert position["fund_id"] == fund["id"]
        assert position["committed"] == 5_000_000_00
        assert position["contributed"] == 1_000_000_00
        assert position["unfunded"] == 4_000_000_00
        assert position["distributed"] == 250_000_00
        assert position["nav"] == 1_000_000_00
        assert position["dpi"] == "0.2500"
        assert position["tvpi"] == "1.2500"
        assert position["irr"] is not None
        assert position["irr"].startswith("0.25")

        own = lp.get(f"/api/investors/{alpha}")
        assert own.status_code == 200
        assert own.json()["tax_id"] == "**-***6789"
        statement = lp.get(f"/api/investors/{alpha}/statement", params={"fund_id": fund["id"]})
        assert statement.status_code == 200, statement.text
        assert [e["kind"] for e in statement.json()["entries"]] == ["contribution", "distribution"]

        other = lp.get(f"/api/investors/{beta}")
        missing = lp.get(f"/api/investors/{uuid.uuid4().hex}")
        assert without_request_id(assert_problem(other, 404)) == without_request_id(assert_problem(missing, 404))
        other_statement = lp.get(f"/api/investors/{beta}/statement", params={"fund_id": fund["id"]})
        assert_problem(other_statement, 404, "INVESTOR_NOT_FOUND")
        for forbidden in ("/api/funds", "/api/investors", "/api/capital-calls", "/api/distributions"):
            assert_problem(lp.get(forbidden), 403, "FORBIDDEN")


def test_the_lp_lists_their_own_share_of_each_call_and_distribution_and_nothing_else(
    org: Org, fund: dict[str, Any]
) -> None:
    """Alpha holds 50 % of the commitments. Two issued calls of 2,000,000.00 and 1,000,000.00 (alpha's shares
    1,000,000.00 and 500,000.00, 250,000.00 of the first paid) and a draft call; a paid pro-rata distribution of
    500,000.00, shared by contributed capital (alpha 250,000.00 of 1,250,000.00 contributed: 100,000.00) and a
    draft one. The lp sees the issued calls and the paid distribution,
    each with alpha's figures only."""
    alpha, beta, _ = fund["investors"]
    with org.client() as admin:
        first = _call(admin, fund["id"], 2_000_000_00, purpose="Acquisition of Harbor Point")
        admin.post(f"/api/capital-calls/{first['id']}/issue")
        assert _pay(admin, first["id"], alpha, 250_000_00, on="2025-01-01").status_code == 200
        for investor, amount in _shares(first).items():
            if investor != alpha:
                _pay(admin, first["id"], investor, amount, on="2025-01-01")
        second = _call(admin, fund["id"], 1_000_000_00, purpose="Capital improvements")
        admin.post(f"/api/capital-calls/{second['id']}/issue")
        draft_call = _call(admin, fund["id"], 3_000_000_00)
        paid = money_post(
            admin,
            "/api/distributions",
            {"fund_id": fund["id"], "amount": 500_000_00, "date": "2025-12-31", "method": "pro_rata"},
        )
        draft = money_post(
            admin,
            "/api/distributions",
            {"fund_id": fund["id"], "amount": 100_000_00, "date": "2025-12-31", "method": "pro_rata"},
        )
        lp_email = _lp_user(admin, alpha)
    with org.client("gp") as checker:
        checker.post(f"/api/distributions/{paid['id']}/approve")
        money_post(checker, f"/api/distributions/{paid['id']}/pay")
        assert_problem(checker.get("/api/portfolio/capital-calls"), 403, "FORBIDDEN")
        assert_problem(checker.get("/api/portfolio/distributions"), 403, "FORBIDDEN")

    token = login(org.stack, lp_email, LP_PASSWORD)
    with org.stack.client(token) as lp:
        calls = lp.get("/api/portfolio/capital-calls")
        assert calls.status_code == 200, calls.text
        items = calls.json()["items"]
        assert [item["id"] for item in items] == [second["id"], first["id"]]  # newest first; no draft
        newest, oldest = items
        assert (oldest["amount"], oldest["paid"], oldest["outstanding"]) == (1_000_000_00, 250_000_00, 750_000_00)
        assert (oldest["status"], oldest["purpose"], oldest["currency"]) == (
            "partially_funded",
            "Acquisition of Harbor Point",
            "USD",
        )
        assert (newest["amount"], newest["paid"], newest["outstanding"]) == (500_000_00, 0, 500_000_00)
        assert set(oldest) == {
            "id", "fund_id", "currency", "due_date", "purpose", "status", "amount", "paid", "outstanding", "created_at",
        }  # fmt: skip
        # Neither a call's total nor another investor's share is anywhere in the answer (the figures differ
        # from all of alpha's: beta's 600,000.00 / 300,000.00, gamma's 400,000.00 / 200,000.00).
        others = [amount for call in (first, second) for who, amount in _shares(call).items() if who != alpha]
        for figure in (first["amount"], draft_call["amount"], *others):
            assert f":{figure}," not in calls.text.replace(" ", "")
        assert beta not in calls.text

        page = lp.get("/api/portfolio/capital-calls", params={"limit": 1})
        assert [item["id"] for item in page.json()["items"]] == [second["id"]]
        rest = lp.get("/api/portfolio/capital-calls", params={"limit": 1, "cursor": page.json()["next_cursor"]})
        assert [item["id"] for item in rest.json()["items"]] == [first["id"]]
        assert rest.json()["next_cursor"] is None
        assert_validation_problem(lp.get("/api/portfolio/capital-calls", params={"cursor": "nope"}), "query.cursor")

        distributions = lp.get("/api/portfolio/distributions")
        assert distributions.status_code == 200, distributions.text
        (received,) = distributions.json()["items"]
        assert received["id"] == paid["id"]
        assert draft["id"] not in distributions.text
        assert (received["amount"], received["status"], received["date"]) == (100_000_00, "paid", "2025-12-31")
        others = [share["amount"] for share in paid["allocations"] if share["investor_id"] != alpha]
        assert sorted(others) == [160_000_00, 240_000_00]
        for figure in (paid["amount"], *others):  # the distribution's total, the other investors' shares
            assert f":{figure}," not in distributions.text.replace(" ", "")
        assert beta not in distributions.text


def test_closing_waits_for_the_deals_linked_calls_to_be_funded(org: Org, fund: dict[str, Any]) -> None:
    alpha, beta, gamma = fund["investors"]
    with org.client() as admin:
        deal = create_deal(admin, purchase_price=25_000_000_00)
    deal = walk(org, deal, "underwriting", "ic_review", "loi", "psa", "due_diligence", "financing", "closing")
    with org.client("admin") as admin:
        call = _call(admin, fund["id"], 100_000_00, deal_id=deal["id"])
        admin.post(f"/api/capital-calls/{call['id']}/issue")
        # Everything else the closing gate asks for is there: the documents and both approvals.
        for kind in ("closing_statement", "wire_confirmation"):
            supply_material(admin, deal["id"], kind, "DOC")
        for voter in ("gp", org.lender(deal["id"])):
            with org.client(voter) as approver:
                given = approver.post(
                    f"/api/deals/{deal['id']}/approvals", json={"to": "closed", "decision": "approve"}
                )
                assert given.status_code == 201, given.text
        deal = admin.get(f"/api/deals/{deal['id']}").json()
        refused = transition(admin, deal, "closed")
        body = assert_problem(refused, 409, "DEAL_GUARD_FAILED")
        assert [u["check"] for u in body["unmet"]] == ["linked_calls_funded"]
        for investor, amount in _shares(call).items():
            assert _pay(admin, call["id"], investor, amount).status_code == 200
        closed = transition(admin, deal, "closed")
        assert closed.status_code == 200, closed.text
        unknown_deal = admin.post(
            "/api/capital-calls",
            json={"fund_id": fund["id"], "amount": 1_00, "due_date": "2026-03-31", "purpose": "x", "deal_id": "nope"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert_problem(unknown_deal, 404, "DEAL_NOT_FOUND")
    assert {alpha, beta, gamma} == set(_shares(call))


def test_an_lp_user_can_only_be_linked_to_an_investor_of_the_org(org: Org, other_org: Org) -> None:
    with other_org.client() as foreign_admin:
        foreign = create_investor(foreign_admin, name="Foreign Pension")
    with org.client() as admin:
        own = create_investor(admin, name="Own Pension")
        for investor_id in (foreign["id"], uuid.uuid4().hex):
            refused = admin.post(
                "/api/users",
                json={"email": f"lp-{uuid.uuid4().hex[:8]}@example.test", "role": "lp", "investor_id": investor_id},
            )
            assert_validation_problem(refused, "body.investor_id")
        linked = admin.post(
            "/api/users",
            json={"email": f"lp-{uuid.uuid4().hex[:8]}@example.test", "role": "lp", "investor_id": own["id"]},
        )
        assert linked.status_code == 201, linked.text
        assert linked.json()["investor_id"] == own["id"]

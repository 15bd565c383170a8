"""Money moves at most once per Idempotency-Key (ARCHITECTURE.md §3.6), through the whole stack.

The BFF stores outcomes per (org, key); the kernel, which receives the key too, stores its first
answer in the same transaction as the money, so even a retry the BFF knows nothing about (its
answer was lost, the kernel restarted) moves nothing twice.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from cornerstone.contracts.funds import (
    CapitalCall,
    CapitalCallStatus,
    Distribution,
    DistributionKind,
    DistributionMethod,
    DistributionStatus,
    DistributionTiers,
)
from cornerstone.kernel.models import DistributionAllocationRow, LedgerEntryRow
from cornerstone.kernel.models.base import table_of
from cornerstone.kernel.money_operations import SharesAnswer, _json_response, insert_shares
from cornerstone.kit.service_auth import mint_service_token
from tests.integration.helpers import assert_problem, commit, create_fund, create_investor
from tests.support import Org, Stack


def _funded_fund(admin: httpx.Client) -> dict[str, Any]:
    fund = create_fund(admin, name=f"Idempotent Fund {uuid.uuid4().hex[:6]}")
    investor = create_investor(admin, name="Kappa Endowment", type="endowment")
    commit(admin, fund["id"], investor["id"], 1_000_000_00)
    return {"fund_id": fund["id"], "investor_id": investor["id"]}


def _call_body(fund_id: str, amount: int = 100_000_00) -> dict[str, Any]:
    return {"fund_id": fund_id, "amount": amount, "due_date": "2026-05-01", "purpose": "acquisition"}


def _calls(admin: httpx.Client, fund_id: str) -> list[dict[str, Any]]:
    response = admin.get("/api/capital-calls", params={"fund_id": fund_id, "limit": 200})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_the_same_key_twice_is_one_call_and_the_same_answer(org: Org) -> None:
    with org.client() as admin:
        fund = _funded_fund(admin)
        key = {"Idempotency-Key": f"call-{uuid.uuid4().hex}"}
        first = admin.post("/api/capital-calls", json=_call_body(fund["fund_id"]), headers=key)
        again = admin.post("/api/capital-calls", json=_call_body(fund["fund_id"]), headers=key)
        assert first.status_code == again.status_code == 201, first.text
        assert again.content == first.content
        assert again.headers["idempotency-replayed"] == "true"
        assert "idempotency-replayed" not in first.headers
        assert len(_calls(admin, fund["fund_id"])) == 1

        other_amount = admin.post("/api/capital-calls", json=_call_body(fund["fund_id"], 1_00), headers=key)
        assert_problem(other_amount, 422, "IDEMPOTENCY_KEY_REUSED")
        missing = admin.post("/api/capital-calls", json=_call_body(fund["fund_id"]))
        assert_problem(missing, 400, "IDEMPOTENCY_KEY_REQUIRED")
        assert len(_calls(admin, fund["fund_id"])) == 1


def test_a_refusal_is_replayed_too(org: Org) -> None:
    with org.client() as admin:
        fund = _funded_fund(admin)
        key = {"Idempotency-Key": f"big-{uuid.uuid4().hex}"}
        body = _call_body(fund["fund_id"], 1_000_000_01)
        first = admin.post("/api/capital-calls", json=body, headers=key)
        assert_problem(first, 409, "CALL_EXCEEDS_UNFUNDED")
        again = admin.post("/api/capital-calls", json=body, headers=key)
        assert again.status_code == 409
        assert again.content == first.content
        assert again.headers["idempotency-replayed"] == "true"


def test_twenty_concurrent_identical_posts_make_one_call(org: Org) -> None:
    with org.client() as admin:
        fund = _funded_fund(admin)
    key = f"race-{uuid.uuid4().hex}"
    body = _call_body(fund["fund_id"])

    def post(_: int) -> httpx.Response:
        with org.client() as client:
            return client.post("/api/capital-calls", json=body, headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(post, range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses if r.status_code not in (201, 409)]
    assert 201 in statuses
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "IDEMPOTENCY_IN_FLIGHT"
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    with org.client() as admin:
        assert len(_calls(admin, fund["fund_id"])) == 1


def test_a_retry_after_the_kernel_committed_and_restarted_moves_no_money_twice(org: Org, stack: Stack) -> None:
    """The kernel commits the call, but its answer never reaches the BFF (here: the call is made
    to the kernel directly, as the BFF would, and the kernel is then restarted). The client's retry
    through the BFF, which has nothing stored for the key, gets the kernel's first answer."""
    with org.client() as admin:
        fund = _funded_fund(admin)
        me = admin.get("/api/me").json()
    key = f"lost-{uuid.uuid4().hex}"
    body = _call_body(fund["fund_id"])
    token = mint_service_token(
        stack.env["CORNERSTONE_SERVICE_KEY"], org_id=org.org_id, actor_id=me["id"], actor_role="admin"
    )
    direct = httpx.post(
        f"{stack.kernel.url}/kernel/v1/orgs/{org.org_id}/capital-calls",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        timeout=30,
    )
    assert direct.status_code == 201, direct.text

    stack.kernel.stop()
    stack.start_kernel()

    with org.client() as admin:
        retry = admin.post("/api/capital-calls", json=body, headers={"Idempotency-Key": key})
        assert retry.status_code == 201, retry.text
        assert retry.json()["id"] == direct.json()["id"]
        assert len(_calls(admin, fund["fund_id"])) == 1
        # A payment retried the same way is recorded once.
        call_id = retry.json()["id"]
        assert admin.post(f"/api/capital-calls/{call_id}/issue").status_code == 200
        payment = {"investor_id": fund["investor_id"], "amount": 40_000_00, "received_at": "2026-04-20"}
        pay_key = {"Idempotency-Key": f"pay-{uuid.uuid4().hex}"}
        for _ in range(3):
            paid = admin.post(f"/api/capital-calls/{call_id}/payments", json=payment, headers=pay_key)
            assert paid.status_code == 200, paid.text
        assert admin.get(f"/api/capital-calls/{call_id}").json()["paid"] == 40_000_00
        contributed = admin.get(f"/api/funds/{fund['fund_id']}").json()["figures"]["contributed"]
        assert contributed == 40_000_00


def test_keys_are_scoped_per_org(org: Org, other_org: Org) -> None:
    key = {"Idempotency-Key": f"shared-{uuid.uuid4().hex}"}
    for tenant in (org, other_org):
        with tenant.client() as admin:
            fund = _funded_fund(admin)
            created = admin.post("/api/capital-calls", json=_call_body(fund["fund_id"]), headers=key)
            assert created.status_code == 201, created.text
            assert "idempotency-replayed" not in created.headers


def test_a_money_answer_is_the_json_a_json_response_of_the_contract_would_be() -> None:
    """Money answers keep their shares as plain dicts and are serialized straight to JSON: byte for byte what
    the route answered before (a ``JSONResponse`` of the full contract's ``model_dump(mode="json")``), escapes
    and non-ASCII included, for a capital call and for a distribution."""
    call_fields: dict[str, Any] = {
        "id": "call-1",
        "fund_id": "fund-1",
        "amount": 300,
        "currency": "EUR",
        "due_date": date(2027, 6, 30),
        "purpose": 'Übernahme — "Haus\u2028am See" </script> \x01 😀',
        "deal_id": None,
        "status": CapitalCallStatus.DRAFT,
        "paid": 0,
        "created_by": "actor",
        "created_at": datetime(2026, 11, 29, 0, 38, 43, 123456, tzinfo=UTC),
        "version": 1,
    }
    call_shares = [{"investor_id": "a", "amount": 200, "paid": 0}, {"investor_id": "b", "amount": 100, "paid": 0}]
    distribution_fields: dict[str, Any] = {
        "id": "distribution-1",
        "fund_id": "fund-1",
        "amount": 1_000,
        "currency": "USD",
        "date": date(2027, 1, 15),
        "method": DistributionMethod.WATERFALL,
        "kind": DistributionKind.SALE_PROCEEDS,
        "status": DistributionStatus.DRAFT,
        "carried_interest": 100,
        "tiers": DistributionTiers(return_of_capital=700, preferred_return=80, catch_up=20, split_lp=160, split_gp=40),
        "created_by": "maker",
        "approved_by": None,
        "created_at": datetime(2026, 11, 29, 1, 0, tzinfo=UTC),
        "version": 1,
    }
    distribution_shares = [{"investor_id": "a", "amount": 600}, {"investor_id": "ü", "amount": 300}]
    answers: list[SharesAnswer[Any]] = [
        SharesAnswer(CapitalCall, call_fields, call_shares),
        SharesAnswer(Distribution, distribution_fields, distribution_shares),
    ]
    for answer in answers:
        contract = answer.contract()
        assert answer.id == contract.id
        response = _json_response(answer, 201, headers={"Idempotency-Replayed": "true"})
        before = JSONResponse(
            contract.model_dump(mode="json"), status_code=201, headers={"Idempotency-Replayed": "true"}
        )
        assert response.body == before.body
        assert response.body == contract.model_dump_json().encode()
        assert response.status_code == 201
        assert response.headers == before.headers


def test_shares_inserted_straight_through_the_sqlite_driver_read_back_as_inserted() -> None:
    """``insert_shares`` hands SQLite's driver the rows as they are; that is only done for columns SQLAlchemy
    would not convert (a date column is refused)."""

    async def scenario() -> None:
        engine = create_async_engine("sqlite+aiosqlite://")
        try:
            async with engine.begin() as connection:
                await connection.run_sync(table_of(DistributionAllocationRow).create)
                await connection.run_sync(table_of(LedgerEntryRow).create)
            async with AsyncSession(engine) as session, session.begin():
                shares = table_of(DistributionAllocationRow)
                rows = [("dist-1", f"investor-{number:05d}", "org-1", 10**15 + number) for number in range(2_000)]
                await insert_shares(session, shares, ("distribution_id", "investor_id", "org_id", "amount"), rows)
                stored = (await session.execute(select(shares).order_by(shares.c.investor_id))).all()
                assert [tuple(row) for row in stored] == rows
                with pytest.raises(TypeError, match="on"):
                    await insert_shares(session, table_of(LedgerEntryRow), ("id", "on"), [("entry-1", "2026-01-01")])
        finally:
            await engine.dispose()

    asyncio.run(scenario())

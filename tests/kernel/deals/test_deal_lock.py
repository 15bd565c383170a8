"""Every write that feeds or passes a deal's gates takes the deal's row lock first (PostgreSQL), so
a gate is never judged on evidence a concurrent write is changing. Proved directly: while another
transaction holds the deal's row, each such write waits, and completes once the row is released.
(SQLite serializes every write transaction on the database lock, so the question does not arise.)"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text

from tests.kernel.conftest import KernelServer
from tests.kernel.helpers import KernelApi, KernelDb

pytestmark = pytest.mark.postgres

Write = Callable[[KernelApi, str, str], httpx.Response]


def _approve(api: KernelApi, org: str, deal: str) -> httpx.Response:
    body = {"to": "loi", "decision": "approve"}
    return api.http.post(api.deals_path(org, deal, "approvals"), json=body, headers=api.headers(org, "gp"))


def _material(api: KernelApi, org: str, deal: str) -> httpx.Response:
    body = {"type": "ic_memo", "truth_class": "HUMAN", "data": {"note": "memo"}}
    return api.http.post(api.deals_path(org, deal, "materials"), json=body, headers=api.headers(org, "gp"))


def _override(api: KernelApi, org: str, deal: str) -> httpx.Response:
    body = {"to": "loi", "attestation": "The committee approved this deal in writing."}
    return api.http.post(api.deals_path(org, deal, "overrides"), json=body, headers=api.headers(org, "admin"))


def _move(api: KernelApi, org: str, deal: str) -> httpx.Response:
    version = api.get_deal(org, deal).json()["version"]
    return api.transition(org, deal, "on_hold", version=version, reason="Seller asked for a pause.")


def _withdraw(approval_id: str) -> Write:
    def withdraw(api: KernelApi, org: str, deal: str) -> httpx.Response:
        path = f"/kernel/v1/orgs/{org}/approvals/{approval_id}/withdraw"
        return api.http.post(path, headers=api.headers(org, "gp"))

    return withdraw


def _work_item(item_id: str) -> Write:
    def work(api: KernelApi, org: str, deal: str) -> httpx.Response:
        path = f"/kernel/v1/orgs/{org}/checklist-items/{item_id}"
        return api.http.patch(path, json={"status": "in_review"}, headers=api.headers(org, "analyst"))

    return work


def _waits_for_the_deal(kernel_server: KernelServer, kernel_db: KernelDb, org: str, deal: str, write: Write) -> None:
    outcome: list[httpx.Response] = []
    with kernel_server.api() as api, kernel_db.engine.connect() as holder:
        holder.execute(text("SELECT id FROM deals WHERE id = :id FOR UPDATE"), {"id": deal})
        worker = threading.Thread(target=lambda: outcome.append(write(api, org, deal)))
        worker.start()
        worker.join(timeout=1.5)
        assert worker.is_alive(), f"{write.__name__} did not wait for the deal's lock"
        holder.commit()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert outcome[0].status_code in (200, 201), outcome[0].text


def test_each_gate_feeding_write_waits_for_the_deal_lock(kernel_server: KernelServer, kernel_db: KernelDb) -> None:
    org = uuid.uuid4().hex
    with kernel_server.api() as api:
        deal = api.create_deal(org, purchase_price=10_000_000_00)["id"]
        kernel_db.force_stage(deal, "ic_review")
        vote = _approve(api, org, deal)
        assert vote.status_code == 201, vote.text
    with kernel_db.engine.connect() as conn:
        item = conn.execute(
            text("SELECT item_id FROM checklist_item_revisions WHERE deal_id = :id"), {"id": deal}
        ).scalar_one()
    for write in (_approve, _material, _override, _withdraw(vote.json()["id"]), _work_item(item), _move):
        _waits_for_the_deal(kernel_server, kernel_db, org, deal, write)

"""The audit trail: one record per mutating request, whatever its outcome, masked, append-only, verifiable."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from tests.integration.helpers import bff_api_routes, body_for, evidence_scenario, files_for, fund_scenario
from tests.support import (
    TEST_PASSWORD,
    Org,
    Stack,
    append_only_lifted,
    create_deal,
    new_org,
    supply_material,
    sync_engine,
)

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def bff_db(stack: Stack) -> Iterator[Engine]:
    engine = sync_engine(stack.databases.bff_url)
    yield engine
    engine.dispose()


def rows_for(engine: Engine, request_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(text("SELECT * FROM audit_records WHERE request_id = :r"), {"r": request_id})
        return [dict(row._mapping) for row in result]


def mutating_routes() -> list[tuple[str, str, str]]:
    return [
        (method, route.path, route.audit_action or "")
        for route in bff_api_routes()
        for method in sorted(route.methods & MUTATING)
    ]


def test_every_mutating_route_declares_its_audit_action() -> None:
    undeclared = [(method, path) for method, path, action in mutating_routes() if not action]
    assert mutating_routes(), "no mutating routes found: the audit walk would prove nothing"
    assert undeclared == []


def _email_of(client: httpx.Client) -> str:
    return str(client.get("/api/me").json()["email"])


def _fresh_targets(org: Org, funds: dict[str, str]) -> dict[str, str]:
    """A new deal and user for each call (an allowed call changes them); the fund-operations
    objects are shared: the walk asserts one record per call, whatever the outcome."""
    with org.client() as admin:
        deal = create_deal(admin)
        user = admin.post(
            "/api/users", json={"email": f"t-{uuid.uuid4().hex[:8]}@example.test", "role": "analyst"}
        ).json()
    return {**funds, "deal_id": deal["id"], "user_id": user["id"]}


def _body(method: str, path: str) -> dict[str, Any] | None:
    body = body_for(method, path)
    if body is not None and path == "/api/users":
        body = {**body, "email": f"walk-{uuid.uuid4().hex[:8]}@example.test"}
    return body


def test_every_mutating_call_writes_exactly_one_record_whatever_the_outcome(
    stack: Stack, org: Org, other_org: Org, bff_db: Engine, subtests: pytest.Subtests
) -> None:
    """Each mutating route is called as allowed, as a refused role, from another org, anonymously
    and with an invalid body; each call leaves exactly one record carrying its outcome."""
    callers = {
        "admin": org.client("admin"),
        "lp": org.client("lp"),
        "foreign_admin": other_org.client("admin"),
        "anonymous": stack.client(),
    }
    with org.client() as admin:
        funds = {**fund_scenario(admin), **evidence_scenario(admin)}
    try:
        for method, path, action in mutating_routes():
            for caller, client in callers.items():
                for invalid in (False, True):
                    body = _body(method, path)
                    files = files_for(method, path)
                    if invalid and body is None and files is None:
                        continue
                    if invalid and files is not None:
                        files = {"not_the_file": files["file"]}  # the form lacks `file`: 422
                    elif invalid:
                        body = {**(body or {}), "unexpected_field": 1}
                    targets = _fresh_targets(org, funds)
                    request_id = f"audit-walk-{uuid.uuid4().hex}"
                    with subtests.test(route=f"{method} {path}", caller=caller, invalid=invalid):
                        headers = {"X-Request-ID": request_id, "Idempotency-Key": uuid.uuid4().hex}
                        if path.startswith("/api/auth/") and caller != "anonymous":
                            # Logout and password change end the caller's own tokens: use a fresh one.
                            owner = other_org if caller == "foreign_admin" else org
                            fresh = owner.fresh_token(caller.removeprefix("foreign_"))
                            headers["Authorization"] = f"Bearer {fresh}"
                        response = client.request(
                            method, path.format(**targets), json=body, files=files, headers=headers
                        )
                        assert response.status_code < 500, response.text
                        rows = rows_for(bff_db, request_id)
                        assert len(rows) == 1, rows
                        record = rows[0]
                        assert record["action"] == action
                        assert record["status"] == response.status_code
                        expected_code = response.json().get("code") if response.status_code >= 400 else None
                        assert record["error_code"] == expected_code
                        if path == "/api/auth/token":
                            # Sign-in takes no bearer token; an unknown email ties the attempt to no org.
                            expected = ("-", "anonymous", None)
                        elif caller == "anonymous":
                            expected = ("-", "anonymous", None)
                        else:
                            owner = other_org if caller == "foreign_admin" else org
                            expected = (owner.org_id, caller.removeprefix("foreign_"), record["actor_id"])
                            assert record["actor_id"] is not None
                        assert (record["org_id"], record["actor_role"], record["actor_id"]) == expected
                        assert record["client_ip"] == "127.0.0.1"
                        assert record["user_agent"].startswith("python-httpx/")
    finally:
        for client in callers.values():
            client.close()


def test_reads_are_not_audited(org: Org, bff_db: Engine) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp)
        request_id = f"read-{uuid.uuid4().hex}"
        assert gp.get(f"/api/deals/{deal['id']}", headers={"X-Request-ID": request_id}).status_code == 200
    assert rows_for(bff_db, request_id) == []


def test_changes_record_before_and_after_of_what_changed(org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Before Name", units=5)
        gp.patch(
            f"/api/deals/{deal['id']}", json={"name": "After Name", "version": 1}, headers={"X-Request-ID": "chg-1"}
        )
        for kind in ("rent_roll", "t12"):
            supply_material(gp, deal["id"], kind, "HUMAN")
        gp.post(
            f"/api/deals/{deal['id']}/transitions",
            json={"to": "underwriting", "version": 2},
            headers={"X-Request-ID": "chg-2"},
        )
    with org.client("auditor") as auditor:
        update = auditor.get("/api/audit", params={"request_id": "chg-1"}).json()["items"]
        moved = auditor.get("/api/audit", params={"request_id": "chg-2"}).json()["items"]
    assert update[0]["changes"] == {"before": {"name": "Before Name"}, "after": {"name": "After Name"}}
    assert update[0]["target_type"] == "deal"
    assert update[0]["target_id"] == deal["id"]
    assert moved[0]["changes"] == {"before": {"stage": "intake"}, "after": {"stage": "underwriting"}}


def test_passwords_never_reach_the_audit_trail(org: Org, bff_db: Engine) -> None:
    secret = f"Planted-Secret-{uuid.uuid4().hex}"
    email = f"p-{uuid.uuid4().hex[:8]}@example.test"
    with org.client() as admin:
        created = admin.post("/api/users", json={"email": email, "role": "gp", "password": secret})
        assert created.status_code == 201
    with org.stack.client() as anonymous:
        assert anonymous.post("/api/auth/token", json={"email": email, "password": secret}).status_code == 200
        assert anonymous.post("/api/auth/token", json={"email": email, "password": secret + "x"}).status_code == 401
    with bff_db.connect() as conn:
        dump = json.dumps([dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_records"))], default=str)
    assert secret not in dump


def test_sign_ins_are_audited_in_the_users_org(org: Org) -> None:
    with org.client() as admin:
        email = _email_of(admin)
    with org.stack.client() as anonymous:
        ok = anonymous.post(
            "/api/auth/token", json={"email": email, "password": TEST_PASSWORD}, headers={"X-Request-ID": "login-ok"}
        )
        bad = anonymous.post(
            "/api/auth/token",
            json={"email": email, "password": "wrong-password"},
            headers={"X-Request-ID": "login-bad"},
        )
    assert (ok.status_code, bad.status_code) == (200, 401)
    with org.client() as admin:
        success = admin.get("/api/audit", params={"request_id": "login-ok"}).json()["items"][0]
        failure = admin.get("/api/audit", params={"request_id": "login-bad"}).json()["items"][0]
        me = admin.get("/api/me").json()
    assert (success["action"], success["status"], success["actor_id"], success["actor_role"]) == (
        "auth.login",
        200,
        me["id"],
        "admin",
    )
    assert (failure["status"], failure["error_code"], failure["actor_role"], failure["target_id"]) == (
        401,
        "UNAUTHORIZED",
        "anonymous",
        me["id"],
    )


def test_audit_list_filters_pages_and_exports_csv(org: Org) -> None:
    with org.client("gp") as gp:
        gp_id = gp.get("/api/me").json()["id"]
        deals = [create_deal(gp, name=f"Paged {i}") for i in range(5)]
    with org.client("auditor") as auditor:
        seen: list[str] = []
        cursor = None
        while True:
            page = auditor.get(
                "/api/audit",
                params={"actor": gp_id, "action": "deal.create", "limit": 2, **({"cursor": cursor} if cursor else {})},
            ).json()
            seen += [item["target_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [deal["id"] for deal in reversed(deals)]
        exported = auditor.get(
            "/api/audit", params={"actor": gp_id, "action": "deal.create"}, headers={"Accept": "text/csv"}
        )
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert {row["target_id"] for row in rows} == {deal["id"] for deal in deals}
        assert all(row["action"] == "deal.create" for row in rows)
    with org.client("gp") as gp:
        refused = gp.get("/api/audit")
        assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")


def test_the_audit_table_refuses_updates_and_deletes(org: Org, bff_db: Engine) -> None:
    with org.client() as admin:
        create_deal(admin)
    for statement in ("UPDATE audit_records SET status = 200", "DELETE FROM audit_records"):
        with pytest.raises(DBAPIError, match="append-only"), bff_db.begin() as conn:
            conn.execute(text(statement + " WHERE org_id = :org"), {"org": org.org_id})


def test_verify_names_a_record_edited_behind_the_apps_back(stack: Stack, bff_db: Engine) -> None:
    org = new_org(stack)
    with org.client() as admin:
        for i in range(3):
            create_deal(admin, name=f"Chain {i}")
        clean = admin.get("/api/audit/verify").json()
        assert clean["ok"] is True
        assert clean["checked"] >= 3
    with bff_db.connect() as conn:
        victim = conn.execute(
            text("SELECT id, seq FROM audit_records WHERE org_id = :org ORDER BY seq LIMIT 1 OFFSET 1"),
            {"org": org.org_id},
        ).one()
    with append_only_lifted(bff_db, "audit_records") as conn:
        conn.execute(text("UPDATE audit_records SET status = 299 WHERE id = :id"), {"id": victim.id})
    with org.client("auditor") as auditor:
        report = auditor.get("/api/audit/verify").json()
    assert (report["ok"], report["first_bad"], report["checked"]) == (False, victim.id, victim.seq - 1)
    result = subprocess.run(
        [sys.executable, "-m", "cornerstone", "audit", "verify", "--org", org.org_id],
        env={**stack.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert victim.id in result.stdout
    assert f"seq {victim.seq}" in result.stdout


def test_csv_export_neutralises_spreadsheet_formulas(org: Org) -> None:
    with org.client("gp") as gp:
        gp.post("/api/deals", json={"name": "x", "asset_class": "office"}, headers={"User-Agent": "=HYPERLINK(1)"})
    with org.client("auditor") as auditor:
        exported = auditor.get("/api/audit", params={"action": "deal.create"}, headers={"Accept": "text/csv"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["user_agent"] for row in rows] == ["'=HYPERLINK(1)"]

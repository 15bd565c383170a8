"""Planted secrets never reach a log line, an error body or an audit record."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.support import Org, Stack, create_deal, sync_engine, wait_until


def test_passwords_tokens_tax_ids_and_bank_numbers_stay_out_of_logs_errors_and_audit(stack: Stack, org: Org) -> None:
    marker = uuid.uuid4().hex[:8]
    password = f"Pw-{marker}-correct-horse"
    tax_id = f"987-65-{marker[:4]}"
    bank_account = f"0001{marker}77"
    email = f"leak-{marker}@example.test"
    bodies: list[str] = []

    with org.client() as admin:
        created = admin.post("/api/users", json={"email": email, "role": "gp", "password": password})
        assert created.status_code == 201
        bodies.append(created.text)
    with stack.client() as anonymous:
        token_response = anonymous.post("/api/auth/token", json={"email": email, "password": password})
        token = token_response.json()["access_token"]
        for attempt in (
            {"email": email, "password": password + "-wrong"},
            {"email": f"nobody-{marker}@example.test", "password": password},
            {"email": email, "password": password, "tax_id": tax_id},
        ):
            bodies.append(anonymous.post("/api/auth/token", json=attempt).text)
    with stack.client(token) as gp:
        deal = create_deal(gp, name=f"Leak Check {marker}")
        for bad in (
            {"name": "x", "asset_class": "office", "tax_id": tax_id, "bank_account": bank_account},
            {"name": tax_id * 400, "asset_class": "office"},
            {"name": "x", "asset_class": "office", "purchase_price": bank_account},
        ):
            bodies.append(gp.post("/api/deals", json=bad).text)
        bodies.append(gp.patch(f"/api/deals/{deal['id']}", json={"version": 1, "password": password}).text)
        bodies.append(gp.get(f"/api/deals/{tax_id}").text)
        investor_body = {
            "name": f"Leak Investor {marker}",
            "type": "individual",
            "email": f"investor-{marker}@example.test",
            "tax_id": tax_id,
            "bank_account": bank_account,
        }
        investor = gp.post("/api/investors", json=investor_body)
        assert investor.status_code == 201, investor.text
        bodies.append(investor.text)
        bodies.append(gp.get(f"/api/investors/{investor.json()['id']}").text)
        bodies.append(gp.get("/api/investors").text)
        bodies.append(gp.post("/api/investors", json={**investor_body, "email": "not-an-email", "type": "?"}).text)
        bodies.append(gp.post("/api/investors", json={**investor_body, "bank_account": bank_account + "!"}).text)
    with stack.client(token + "tampered") as forged:
        bodies.append(forged.get("/api/me", headers={"X-Request-ID": f"leak-check-{marker}"}).text)

    # The last request's access line is written after everything before it.
    wait_until(lambda: f"leak-check-{marker}" in stack.bff.log_text(), 10, "the BFF to log this test's requests")
    engine = sync_engine(stack.databases.bff_url)
    try:
        with engine.connect() as conn:
            audit = " ".join(str(tuple(row)) for row in conn.execute(text("SELECT * FROM audit_records")))
    finally:
        engine.dispose()
    places = {
        "bff log": stack.bff.log_text(),
        "kernel log": stack.kernel.log_text(),
        "error bodies": "\n".join(bodies),
        "audit records": audit,
    }
    secrets = {"password": password, "token": token, "tax id": tax_id, "bank account": bank_account}
    leaks = [(what, where) for what, value in secrets.items() for where, text_ in places.items() if value in text_]
    assert leaks == []

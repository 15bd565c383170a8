"""Hostile input at the contract layer, through the BFF and the kernel as real servers, on SQLite and
PostgreSQL alike: control characters in text, JSON that is not plain UTF-8 JSON, repeated keys,
unknown currencies, datetimes where a date is due and money dates out of any sane window. Each is a
4xx problem naming what is wrong, never a 500, and nothing is written."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.helpers import (
    assert_problem,
    assert_validation_problem,
    commit,
    create_fund,
    create_investor,
    list_all_deals,
    money_post,
)
from tests.kernel.helpers import KernelApi
from tests.support import Org, Stack, create_deal


@pytest.fixture
def fund(org: Org) -> dict[str, Any]:
    """A fund with one investor committed 1,000,000.00, and an issued call of 1,000.00 on it."""
    with org.client() as admin:
        created = create_fund(admin)
        investor = create_investor(admin, name="Harbor Pension Plan")
        commit(admin, created["id"], investor["id"], 1_000_000_00)
        call = money_post(
            admin,
            "/api/capital-calls",
            {"fund_id": created["id"], "amount": 1000_00, "due_date": "2026-12-31", "purpose": "acquisition"},
        )
        money_post(admin, f"/api/capital-calls/{call['id']}/issue")
    return {"id": created["id"], "investor": investor["id"], "call": call["id"]}


def _keyed(client: httpx.Client, path: str, content: bytes, content_type: str = "application/json") -> httpx.Response:
    return client.post(
        path, content=content, headers={"Content-Type": content_type, "Idempotency-Key": uuid.uuid4().hex}
    )


# ------------------------------------------------------------------------------------------------------- text


TEXT_CASES = [
    ("NUL", "Nul\u0000Tower"),
    ("escape", "Esc\u001b[2JTower"),
    ("newline in a one-line field", "Line\nTower"),
    ("DEL", "Del\u007fTower"),
    ("C1 control", "Nel\u0085Tower"),
]


@pytest.mark.parametrize(("case", "name"), TEXT_CASES, ids=[case for case, _ in TEXT_CASES])
def test_a_control_character_in_a_deal_name_is_a_422_naming_it(org: Org, case: str, name: str) -> None:
    with org.client() as client:
        before = list_all_deals(client)
        response = client.post("/api/deals", json={"name": name, "asset_class": "office"})
        body = assert_validation_problem(response, "body.name")
        assert name not in response.text  # never echoed, raw or escaped
        assert json.dumps(name)[1:-1] not in response.text
        assert {error["type"] for error in body["errors"]} == {"text_control_character"}
        assert list_all_deals(client) == before


def test_a_control_character_in_the_sign_in_email_is_a_422_not_a_500(stack: Stack) -> None:
    """The email is looked up in the BFF's database: on PostgreSQL a NUL in it was a 500 (DataError)."""
    with httpx.Client(base_url=stack.bff.url, timeout=10) as client:
        for email in ("gp\u0000@example.test", "gp\u001b@example.test"):
            response = client.post("/api/auth/token", json={"email": email, "password": "not-the-password"})
            body = assert_validation_problem(response, "body.email")
            assert {error["type"] for error in body["errors"]} == {"text_control_character"}


def test_control_characters_in_other_text_fields_and_the_search_query_are_422s(org: Org, fund: dict[str, Any]) -> None:
    with org.client() as client:
        deal = create_deal(client, name="Plain Tower")
        assert_validation_problem(client.get("/api/deals", params={"q": "\u0000"}), "query.q")
        assert_validation_problem(client.get("/api/deals", params={"cursor": "a\u0000"}), "query.cursor")
        assert_validation_problem(
            client.patch(f"/api/deals/{deal['id']}", json={"version": deal["version"], "address": {"city": "A\u0000"}}),
            "body.address.city",
        )
        assert_validation_problem(
            client.post("/api/investors", json={"name": "Nul\u0000 LP", "type": "pension", "email": "a@b.example"}),
            "body.name",
        )
        call = {"fund_id": fund["id"], "amount": 100, "due_date": "2026-12-31", "purpose": "for\u0000bar"}
        response = client.post("/api/capital-calls", json=call, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert_validation_problem(response, "body.purpose")
        material = {"type": "rent_roll", "truth_class": "HUMAN", "data": {"note": "a\u0000b"}}
        assert_validation_problem(client.post(f"/api/deals/{deal['id']}/materials", json=material), "body.data")
        assert_validation_problem(
            client.get("/api/audit", params={"action": "deal.create\u0000"}), "query.action"
        )  # the BFF's own query parameters too
        # Nothing of it was stored: the deal is as it was, one call only (the fixture's).
        assert client.get(f"/api/deals/{deal['id']}").json()["address"] == deal["address"]
        calls = client.get("/api/capital-calls", params={"fund_id": fund["id"]}).json()["items"]
        assert [c["id"] for c in calls] == [fund["call"]]


def test_a_multi_line_field_keeps_its_lines_and_text_is_stored_nfc(org: Org) -> None:
    with org.client() as client:
        deal = create_deal(client, name="Cafe\u0301 Tower")  # e + combining accent
        assert deal["name"] == "Café Tower"
        assert client.get("/api/deals", params={"q": "Cafe\u0301"}).json()["items"][0]["id"] == deal["id"]
        moved = client.post(
            f"/api/deals/{deal['id']}/transitions",
            json={"to": "dead", "version": deal["version"], "reason": "Seller walked.\r\nNo retrade.\tEnd."},
        )
        assert moved.status_code == 200, moved.text
        history = client.get(f"/api/deals/{deal['id']}/history").json()["items"]
        assert "Seller walked.\nNo retrade.\tEnd." in json.dumps([event["payload"] for event in history]).replace(
            "\\n", "\n"
        ).replace("\\t", "\t")


def test_an_uploaded_file_name_loses_its_control_characters_rather_than_being_refused(org: Org) -> None:
    """A file's name is not typed text: it comes from the sender's file system, and is stored sanitized."""
    with org.client() as client:
        deal = create_deal(client)
        files = {"file": ("Rent\u001b roll\u007f.txt", b"rows\n", "text/plain")}  # sent as they are
        response = client.post(f"/api/deals/{deal['id']}/artifacts", files=files)
        assert response.status_code == 201, response.text
        assert response.json()["filename"] == "Rent roll.txt"


def test_a_control_character_in_a_bff_path_id_is_a_422_not_a_500(org: Org) -> None:
    with org.client() as client:
        assert_validation_problem(client.patch("/api/users/a%00b", json={"role": "gp"}), "path.user_id")


def test_the_kernel_answers_a_value_its_database_refuses_with_a_422(stack: Stack, org: Org) -> None:
    """Under the schemas, the kernel's net: a NUL reaching a PostgreSQL query (here through a path
    parameter, which has no text rule of its own in the kernel) is the client's fault, not a 500."""
    with KernelApi(httpx.Client(base_url=stack.kernel.url, timeout=30), stack.env["CORNERSTONE_SERVICE_KEY"]) as api:
        response = api.get_deal(org.org_id, "deal%00id")
        assert response.status_code in (404, 422), response.text
        assert response.headers["content-type"] == "application/problem+json"


# ------------------------------------------------------------------------------------------------------- JSON


def test_a_repeated_key_is_refused_and_moves_no_money(org: Org, fund: dict[str, Any]) -> None:
    fund_id = fund["id"]
    raw = (
        f'{{"fund_id": "{fund_id}", "amount": 1000, "due_date": "2026-12-31", "purpose": "acquisition", '
        '"amount": 999999}'
    ).encode()
    with org.client() as client:
        body = assert_validation_problem(_keyed(client, "/api/capital-calls", raw), "body")
        assert body["errors"][0]["type"] == "json_duplicate_key"
        nested = b'{"name": "Dup Tower", "asset_class": "office", "address": {"city": "A", "city": "B"}}'
        assert_validation_problem(client.post("/api/deals", content=nested, headers=_json()), "body")
        calls = client.get("/api/capital-calls", params={"fund_id": fund["id"]}).json()["items"]
        assert [c["id"] for c in calls] == [fund["call"]]
        assert all(deal["name"] != "Dup Tower" for deal in list_all_deals(client))


def _json() -> dict[str, str]:
    return {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-8-sig"], ids=lambda e: e
)
def test_a_body_not_in_utf_8_is_a_400(org: Org, encoding: str) -> None:
    name = f"Encoded Tower {encoding}"
    with org.client() as client:
        content = json.dumps({"name": name, "asset_class": "office"}).encode(encoding)
        assert_problem(client.post("/api/deals", content=content, headers=_json()), 400, "BAD_REQUEST")
        assert all(deal["name"] != name for deal in list_all_deals(client))


def test_invalid_utf_8_and_lone_surrogates_are_refused(org: Org) -> None:
    with org.client() as client:
        invalid = b'{"name": "Bad \xff\xfe Tower", "asset_class": "office"}'
        assert_problem(client.post("/api/deals", content=invalid, headers=_json()), 400, "BAD_REQUEST")
        lone = b'{"name": "Half \\ud800 Tower", "asset_class": "office"}'
        body = assert_validation_problem(client.post("/api/deals", content=lone, headers=_json()), "body")
        assert body["errors"][0]["type"] == "json_lone_surrogate"
        paired = b'{"name": "Smile \\ud83d\\ude00 Tower", "asset_class": "office"}'  # a pair is one character
        created = client.post("/api/deals", content=paired, headers=_json())
        assert created.status_code == 201, created.text
        assert created.json()["name"] == "Smile \U0001f600 Tower"


# ------------------------------------------------------------------------------------------------- currencies


@pytest.mark.parametrize("currency", ["ZZZ", "XXX", "XTS", "XAU"])
def test_an_unknown_currency_is_refused_for_funds_and_deals(org: Org, currency: str) -> None:
    with org.client() as client:
        assert_validation_problem(
            client.post("/api/funds", json={"name": "Zed Fund", "currency": currency}), "body.currency"
        )
        assert_validation_problem(
            client.post("/api/deals", json={"name": "Zed Tower", "asset_class": "office", "currency": currency}),
            "body.currency",
        )
        assert all(fund["name"] != "Zed Fund" for fund in client.get("/api/funds").json()["items"])


def test_a_currency_with_other_minor_units_is_accepted(org: Org) -> None:
    with org.client() as client:
        assert create_fund(client, name="Yen Fund", currency="JPY")["currency"] == "JPY"
        assert create_fund(client, name="Dinar Fund", currency="KWD")["currency"] == "KWD"


# ------------------------------------------------------------------------------------------------------ dates


@pytest.mark.parametrize("received_at", ["1900-01-01", "9999-12-31", "1969-12-31", "2026-12-01T00:00:00Z"])
def test_a_payment_dated_outside_the_window_or_as_a_datetime_moves_no_money(
    org: Org, fund: dict[str, Any], received_at: str
) -> None:
    with org.client() as client:
        response = client.post(
            f"/api/capital-calls/{fund['call']}/payments",
            json={"investor_id": fund["investor"], "amount": 1000_00, "received_at": received_at},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert_validation_problem(response, "body.received_at")
        call = client.get(f"/api/capital-calls/{fund['call']}").json()
        assert (call["paid"], call["status"]) == (0, "issued")


def test_a_due_date_sent_as_a_datetime_or_far_ahead_is_refused(org: Org, fund: dict[str, Any]) -> None:
    too_late = (datetime.now(UTC).date() + timedelta(days=400)).isoformat()
    with org.client() as client:
        for due_date in ("2026-12-31T00:00:00Z", "20261231", too_late):
            body = {"fund_id": fund["id"], "amount": 100, "due_date": due_date, "purpose": "acquisition"}
            response = client.post("/api/capital-calls", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            assert_validation_problem(response, "body.due_date")
        distribution = {"fund_id": fund["id"], "amount": 100, "date": "9999-12-31", "method": "pro_rata"}
        response = client.post("/api/distributions", json=distribution, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert_validation_problem(response, "body.date")
        calls = client.get("/api/capital-calls", params={"fund_id": fund["id"]}).json()["items"]
        assert [c["id"] for c in calls] == [fund["call"]]

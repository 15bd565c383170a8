"""Bad input is a 422 problem naming the field (never a 500) and writes nothing.

Each case checks the org's deals (the list, and the deal and its history for writes to one
deal) before and after, so "rejected" also means "nothing reached the kernel's tables".
Tables of cases run as subtests in one org: every case is reported on its own.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.integration.helpers import (
    assert_problem,
    assert_validation_problem,
    call_route,
    deal_history,
    get_deal,
    list_all_deals,
    route_calls,
)
from tests.support import Org, create_deal

VALID = {"name": "Valid Tower", "asset_class": "office"}

CREATE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown field", {**VALID, "colour": "red"}, "body.colour"),
    ("unknown address field", {**VALID, "address": {"planet": "Mars"}}, "body.address.planet"),
    ("stage is not settable", {**VALID, "stage": "closed"}, "body.stage"),
    ("version is not settable", {**VALID, "version": 9}, "body.version"),
    ("id is not settable", {**VALID, "id": "chosen-by-client"}, "body.id"),
    ("price as a string", {**VALID, "purchase_price": "100"}, "body.purchase_price"),
    ("price as a float", {**VALID, "purchase_price": 100.0}, "body.purchase_price"),
    ("price as a boolean", {**VALID, "purchase_price": True}, "body.purchase_price"),
    ("units as a fraction", {**VALID, "units": 1.5}, "body.units"),
    ("square feet as a string", {**VALID, "square_feet": "1000"}, "body.square_feet"),
    ("name as a number", {**VALID, "name": 123}, "body.name"),
    ("name of 10,000 characters", {**VALID, "name": "x" * 10_000}, "body.name"),
    ("name of 201 characters", {**VALID, "name": "x" * 201}, "body.name"),
    ("empty name", {**VALID, "name": ""}, "body.name"),
    ("blank name", {**VALID, "name": "   "}, "body.name"),
    ("missing name", {"asset_class": "office"}, "body.name"),
    ("missing asset class", {"name": "No Class"}, "body.asset_class"),
    ("negative price", {**VALID, "purchase_price": -1}, "body.purchase_price"),
    ("zero price", {**VALID, "purchase_price": 0}, "body.purchase_price"),
    ("zero noi", {**VALID, "noi": 0}, "body.noi"),
    ("negative loan", {**VALID, "loan_amount": -500}, "body.loan_amount"),
    ("zero equity", {**VALID, "equity_required": 0}, "body.equity_required"),
    ("price beyond the cap", {**VALID, "purchase_price": 10**16}, "body.purchase_price"),
    ("zero units", {**VALID, "units": 0}, "body.units"),
    ("unknown asset class", {**VALID, "asset_class": "castle"}, "body.asset_class"),
    ("asset class in capitals", {**VALID, "asset_class": "OFFICE"}, "body.asset_class"),
    ("lowercase currency", {**VALID, "currency": "usd"}, "body.currency"),
    ("two-letter currency", {**VALID, "currency": "US"}, "body.currency"),
    ("null currency", {**VALID, "currency": None}, "body.currency"),
    ("irr as a float", {**VALID, "projected_irr": 0.15}, "body.projected_irr"),
    ("irr as text", {**VALID, "projected_irr": "abc"}, "body.projected_irr"),
    ("irr as NaN", {**VALID, "projected_irr": "NaN"}, "body.projected_irr"),
    ("irr as Infinity", {**VALID, "projected_irr": "Infinity"}, "body.projected_irr"),
    ("irr with seven places", {**VALID, "projected_irr": "0.1234567"}, "body.projected_irr"),
    ("irr out of range", {**VALID, "projected_irr": "101"}, "body.projected_irr"),
    ("irr of 40 digits", {**VALID, "projected_irr": "1" * 40}, "body.projected_irr"),
    ("negative multiple", {**VALID, "projected_multiple": "-0.5"}, "body.projected_multiple"),
    ("multiple as a float", {**VALID, "projected_multiple": 1.5}, "body.projected_multiple"),
    ("lowercase country", {**VALID, "address": {"country": "us"}}, "body.address.country"),
    ("address as a string", {**VALID, "address": "1 Main St"}, "body.address"),
    ("over-long city", {**VALID, "address": {"city": "c" * 201}}, "body.address.city"),
    ("over-long postal code", {**VALID, "address": {"postal_code": "9" * 21}}, "body.address.postal_code"),
]


def test_create_with_bad_input_is_422_naming_the_field_and_writes_nothing(org: Org, subtests: pytest.Subtests) -> None:
    with org.client() as client:
        create_deal(client, name="Baseline")
        before = list_all_deals(client)
        for case, payload, field in CREATE_CASES:
            with subtests.test(case, field=field):
                problem = assert_validation_problem(client.post("/api/deals", json=payload), field)
                assert field in problem["detail"]
                # The problem names the field but does not echo the rejected input back.
                assert "x" * 201 not in json.dumps(problem)
                assert list_all_deals(client) == before


def test_a_422_lists_every_bad_field_at_once(org: Org) -> None:
    with org.client() as client:
        response = client.post(
            "/api/deals", json={"name": "", "asset_class": "castle", "purchase_price": -1, "colour": "red"}
        )
    problem = assert_validation_problem(response, "body.name", "body.asset_class", "body.purchase_price", "body.colour")
    assert all({"field", "message", "type"} <= error.keys() for error in problem["errors"])


PATCH_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("missing version", {"units": 5}, "body.version"),
    ("version as a string", {"units": 5, "version": "1"}, "body.version"),
    ("version zero", {"units": 5, "version": 0}, "body.version"),
    ("unknown field", {"colour": "red", "version": 1}, "body.colour"),
    ("stage is not patchable", {"stage": "closed", "version": 1}, "body.stage"),
    ("units as a fraction", {"units": 1.5, "version": 1}, "body.units"),
    ("price as a string", {"purchase_price": "100", "version": 1}, "body.purchase_price"),
    ("negative price", {"purchase_price": -5, "version": 1}, "body.purchase_price"),
    ("zero price", {"purchase_price": 0, "version": 1}, "body.purchase_price"),
    ("name as a number", {"name": 123, "version": 1}, "body.name"),
    ("name of 10,000 characters", {"name": "x" * 10_000, "version": 1}, "body.name"),
    ("name null", {"name": None, "version": 1}, "body.name"),
    ("asset class null", {"asset_class": None, "version": 1}, "body.asset_class"),
    ("currency null", {"currency": None, "version": 1}, "body.currency"),
    ("lowercase currency", {"currency": "usd", "version": 1}, "body.currency"),
    ("irr as a float", {"projected_irr": 0.2, "version": 1}, "body.projected_irr"),
    ("irr as text", {"projected_irr": "abc", "version": 1}, "body.projected_irr"),
]


def test_patch_with_bad_input_is_422_naming_the_field_and_changes_nothing(org: Org, subtests: pytest.Subtests) -> None:
    with org.client() as client:
        deal = create_deal(client, name="Patch Target", units=3)
        events = deal_history(client, deal["id"])
        for case, payload, field in PATCH_CASES:
            with subtests.test(case, field=field):
                assert_validation_problem(client.patch(f"/api/deals/{deal['id']}", json=payload), field)
                assert get_deal(client, deal["id"]) == deal
                assert deal_history(client, deal["id"]) == events


TRANSITION_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown stage", {"to": "sourcing", "version": 1}, "body.to"),
    ("missing stage", {"version": 1}, "body.to"),
    ("missing version", {"to": "underwriting"}, "body.version"),
    ("version as a string", {"to": "underwriting", "version": "1"}, "body.version"),
    ("reason of 3000 characters", {"to": "on_hold", "reason": "r" * 3000, "version": 1}, "body.reason"),
    ("reason as a number", {"to": "on_hold", "reason": 42, "version": 1}, "body.reason"),
    ("unknown field", {"to": "underwriting", "version": 1, "force": True}, "body.force"),
]


def test_transition_with_bad_input_is_422_naming_the_field_and_changes_nothing(
    org: Org, subtests: pytest.Subtests
) -> None:
    with org.client() as client:
        deal = create_deal(client, name="Transition Target")
        events = deal_history(client, deal["id"])
        for case, payload, field in TRANSITION_CASES:
            with subtests.test(case, field=field):
                assert_validation_problem(client.post(f"/api/deals/{deal['id']}/transitions", json=payload), field)
                assert get_deal(client, deal["id"]) == deal
                assert deal_history(client, deal["id"]) == events


QUERY_CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("limit zero", "/api/deals", {"limit": 0}, "query.limit"),
    ("limit over 200", "/api/deals", {"limit": 201}, "query.limit"),
    ("limit not a number", "/api/deals", {"limit": "ten"}, "query.limit"),
    ("unknown stage", "/api/deals", {"stage": "sourcing"}, "query.stage"),
    ("q over 200 characters", "/api/deals", {"q": "q" * 201}, "query.q"),
    ("cursor that is not base64 JSON", "/api/deals", {"cursor": "!!!"}, "query.cursor"),
    ("cursor over 512 characters", "/api/deals", {"cursor": "a" * 513}, "query.cursor"),
]


def test_list_with_bad_query_parameters_is_422_naming_the_parameter(org: Org, subtests: pytest.Subtests) -> None:
    with org.client() as client:
        for case, path, params, field in QUERY_CASES:
            with subtests.test(case, field=field):
                assert_validation_problem(client.get(path, params=params), field)


FORGED_CURSORS: list[tuple[str, bytes]] = [
    ("a string", b'"just a string"'),
    ("not a date", b'["not a date", "x"]'),
    ("three parts", b'["2026-01-01T00:00:00Z", "x", 3]'),
    ("numbers", b"[1, 2]"),
    ("null date", b'[null, "x"]'),
    ("object", b"{}"),
    ("not utf-8", b"\xff\xfe"),
    ("year out of range", b'["99999-01-01T00:00:00Z", "x"]'),
]


def test_a_forged_cursor_is_422_not_an_outage(org: Org, subtests: pytest.Subtests) -> None:
    with org.client() as client:
        create_deal(client, name="Cursor Target")
        for case, decoded in FORGED_CURSORS:
            with subtests.test(case):
                cursor = base64.urlsafe_b64encode(decoded).decode().rstrip("=")
                assert_validation_problem(client.get("/api/deals", params={"cursor": cursor}), "query.cursor")


def test_history_cursor_must_be_a_sequence_number(org: Org) -> None:
    with org.client() as client:
        deal = create_deal(client, name="History Cursor")
        response = client.get(f"/api/deals/{deal['id']}/history", params={"cursor": "abc"})
        assert_validation_problem(response, "query.cursor")


def _percent_encoded(text: str) -> str:
    """Every byte as %XX, so the client sends it as is (no dot-segment folding) and the server decodes it."""
    return "".join(f"%{byte:02X}" for byte in text.encode())


def test_a_deal_id_that_could_retarget_the_kernel_call_is_422_on_every_deal_route(
    org: Org, subtests: pytest.Subtests
) -> None:
    """A ``?``, ``#``, ``%`` or dot segment in the id must not reach the kernel's URL (it used to: a 500,
    or the real deal read and patched under an alias such as ``<id>?``)."""
    routes = route_calls("/api/deals/{deal_id}")
    with org.client() as client:
        deal = create_deal(client, name="Aliased")
        state = (get_deal(client, deal["id"]), deal_history(client, deal["id"]))
        bad_ids = {
            "question mark": "?",
            "query string": "?stage=intake",
            "real id and question mark": deal["id"] + "?",
            "real id and hash": deal["id"] + "#",
            "dot": ".",
            "dot dot": "..",
            "percent": "%",
            "space": " ",
            "65 characters": "a" * 65,
        }
        for method, path in routes:
            for case, bad_id in bad_ids.items():
                with subtests.test(f"{method} {path}", case=case):
                    response = call_route(client, method, path, deal_id=_percent_encoded(bad_id))
                    assert_validation_problem(response, "path.deal_id")
                    assert (get_deal(client, deal["id"]), deal_history(client, deal["id"])) == state


# --- bodies that are not a JSON object ----------------------------------------------------------


def _raw_post(client: httpx.Client, path: str, content: bytes, content_type: str | None) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return client.post(path, content=content, headers=headers)


def test_malformed_json_is_422_json_invalid_on_the_body_and_writes_nothing(org: Org) -> None:
    with org.client() as client:
        before = list_all_deals(client)
        response = _raw_post(client, "/api/deals", b'{"name": "Half", "asset_class": ', "application/json")
        problem = assert_problem(response, 422, "VALIDATION_ERROR")
        assert list_all_deals(client) == before
    assert [error["type"] for error in problem["errors"]] == ["json_invalid"]
    assert problem["errors"][0]["field"].startswith("body")


def test_malformed_json_on_patch_is_422_and_changes_nothing(org: Org) -> None:
    with org.client() as client:
        deal = create_deal(client, name="Patch Me Badly")
        response = client.patch(
            f"/api/deals/{deal['id']}",
            content=b'{"version": 1, "units": ',
            headers={"Content-Type": "application/json"},
        )
        problem = assert_problem(response, 422, "VALIDATION_ERROR")
        assert get_deal(client, deal["id"]) == deal
    assert [error["type"] for error in problem["errors"]] == ["json_invalid"]


NOT_JSON_CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/xml",
    "multipart/form-data",
    None,
]


def test_a_json_body_sent_without_a_json_content_type_is_422_on_the_body(org: Org, subtests: pytest.Subtests) -> None:
    """FastAPI (strict content type) parses only JSON media types: any other body is not an object."""
    with org.client() as client:
        before = list_all_deals(client)
        for content_type in NOT_JSON_CONTENT_TYPES:
            with subtests.test(str(content_type)):
                response = _raw_post(client, "/api/deals", json.dumps(VALID).encode(), content_type)
                assert ("content-type" in response.request.headers) == (content_type is not None)
                assert_validation_problem(response, "body")
                assert list_all_deals(client) == before


NON_OBJECT_BODIES: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("array", json.dumps([VALID]).encode()),
    ("string", b'"Valid Tower"'),
    ("number", b"42"),
    ("null", b"null"),
]


def test_a_body_that_is_not_a_json_object_is_422_on_the_body(org: Org, subtests: pytest.Subtests) -> None:
    with org.client() as client:
        before = list_all_deals(client)
        for case, content in NON_OBJECT_BODIES:
            with subtests.test(case):
                assert_validation_problem(_raw_post(client, "/api/deals", content, "application/json"), "body")
                assert list_all_deals(client) == before


def test_a_deeply_nested_body_is_a_422_naming_the_body_not_500(org: Org) -> None:
    """5,000 levels of nesting: refused before the JSON reaches the application's parser
    (CORNERSTONE_MAX_JSON_DEPTH, 32 by default)."""
    depth = 5_000
    content = ('{"a":' * depth + "1" + "}" * depth).encode()
    with org.client() as client:
        before = list_all_deals(client)
        response = _raw_post(client, "/api/deals", content, "application/json")
        body = assert_validation_problem(response, "body")
        assert [error["type"] for error in body["errors"]] == ["json_too_deep"]
        assert list_all_deals(client) == before
        # The server is unharmed.
        assert client.get("/api/deals").status_code == 200


def test_a_moderately_nested_unknown_field_is_422(org: Org) -> None:
    nested: dict[str, Any] = {"leaf": 1}
    for _ in range(20):
        nested = {"a": nested}
    with org.client() as client:
        assert_validation_problem(client.post("/api/deals", json={**VALID, "extra": nested}), "body.extra")


def test_hundreds_of_unknown_fields_are_each_named(org: Org) -> None:
    payload: dict[str, Any] = {f"field_{i}": i for i in range(500)}
    payload.update(VALID)
    with org.client() as client:
        assert_validation_problem(client.post("/api/deals", json=payload), "body.field_0", "body.field_499")


def test_a_body_with_thousands_of_unknown_fields_is_a_short_422_not_500(org: Org) -> None:
    """More keys than CORNERSTONE_MAX_JSON_KEYS (1,000): one error naming the body, not 5,000."""
    payload: dict[str, Any] = {f"field_{i}": i for i in range(5_000)}
    payload.update(VALID)
    with org.client() as client:
        before = list_all_deals(client)
        response = client.post("/api/deals", json=payload)
        body = assert_validation_problem(response, "body")
        assert [error["type"] for error in body["errors"]] == ["json_too_many_keys"]
        assert list_all_deals(client) == before

"""The text rule, the strict date and the ISO 4217 currency: each on its own, and the text rule on every
text a client can send to either service (a new ``str`` field or query parameter without it fails here)."""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Union

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError

from cornerstone.contracts.deals import DealCreate
from cornerstone.contracts.evidence import MaterialCreate
from cornerstone.contracts.funds import CapitalCallCreate, FundCreate, PaymentCreate
from cornerstone.contracts.types import JSON_TEXT, TEXT_RULES, CurrencyCode, IsoDate, MoneyDate
from cornerstone.kit.money import MoneyDateWindow, configure_money_date_window
from tests.support import logging_put_back

# ---------------------------------------------------------------------------------------------- the rule itself


@pytest.mark.parametrize(
    "name",
    ["Nul\x00Tower", "Bell\x07", "Tab\tTower", "Line\nBreak", "Return\rTower", "Esc\x1b[31m", "Del\x7f", "C1\x85Tower"],
)
def test_a_one_line_field_refuses_every_control_character(name: str) -> None:
    with pytest.raises(ValidationError) as raised:
        DealCreate.model_validate({"name": name, "asset_class": "office"})
    (error,) = raised.value.errors()
    assert (error["loc"], error["type"]) == (("name",), "text_control_character")
    assert name not in str(error["msg"])  # the value is never echoed


def test_a_multi_line_field_keeps_tab_and_newline_and_reads_cr_lf_as_newline() -> None:
    from cornerstone.contracts.deals import TransitionRequest

    request = TransitionRequest.model_validate({"to": "dead", "version": 1, "reason": "one\r\ntwo\rthree\n\tfour"})
    assert request.reason == "one\ntwo\nthree\n\tfour"
    for bad in ("a\x00b", "a\x0bb", "a\x0cb", "a\x7fb", "a\x9bb"):
        with pytest.raises(ValidationError, match="text_control_character"):
            TransitionRequest.model_validate({"to": "dead", "version": 1, "reason": bad})


def test_text_is_nfc_normalized() -> None:
    decomposed = "Cafe\u0301 Tower"  # e + combining acute accent
    assert DealCreate.model_validate({"name": decomposed, "asset_class": "office"}).name == "Café Tower"


def test_material_data_keys_and_strings_follow_the_rule() -> None:
    ok = MaterialCreate.model_validate({"type": "rent_roll", "truth_class": "HUMAN", "data": {"note": "a\tb\nc"}})
    assert ok.data == {"note": "a\tb\nc"}
    for data in ({"k\x00": 1}, {"note": "a\x00b"}, {"rows": [{"n": "x\x1by"}]}, {"k\nnewline": 1}):
        with pytest.raises(ValidationError, match="text_control_character"):
            MaterialCreate.model_validate({"type": "rent_roll", "truth_class": "HUMAN", "data": data})


# ---------------------------------------------------------------------------------------------- dates and money


@pytest.mark.parametrize(
    "sent",
    [
        "2026-12-31T00:00:00Z",
        "2026-12-31T00:00:00",
        "2026-12-31 00:00",
        "20261231",
        "2026-02-30",
        " 2026-01-01",
        "2026-01-01\n",
    ],
)
def test_a_date_field_takes_a_date_only(sent: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(IsoDate).validate_python(sent)
    with pytest.raises(ValidationError):
        TypeAdapter(IsoDate).validate_json(f'"{sent}"')


def test_a_date_field_refuses_timestamps_and_datetimes_but_takes_dates() -> None:
    adapter = TypeAdapter(IsoDate)
    assert adapter.validate_python("2026-12-31") == date(2026, 12, 31)
    assert adapter.validate_json('"2026-12-31"') == date(2026, 12, 31)
    assert adapter.validate_python(date(2026, 12, 31)) == date(2026, 12, 31)
    for sent in (1798675200, datetime(2026, 12, 31, tzinfo=UTC)):
        with pytest.raises(ValidationError):
            adapter.validate_python(sent)


@pytest.fixture
def window() -> Iterator[MoneyDateWindow]:
    chosen = MoneyDateWindow(earliest=date(2000, 1, 1), max_days_ahead=30)
    configure_money_date_window(chosen)
    yield chosen
    configure_money_date_window(None)


def test_money_dates_stay_inside_the_window(window: MoneyDateWindow) -> None:
    adapter = TypeAdapter(MoneyDate)
    latest = window.latest()
    assert adapter.validate_python("2000-01-01") == date(2000, 1, 1)
    assert adapter.validate_python(latest.isoformat()) == latest
    for sent, kind in (("1999-12-31", "money_date_too_early"), (date.fromordinal(latest.toordinal() + 1), "")):
        with pytest.raises(ValidationError) as raised:
            adapter.validate_python(sent if isinstance(sent, str) else sent.isoformat())
        assert raised.value.errors()[0]["type"] == (kind or "money_date_too_late")


def test_the_default_window_is_1970_to_a_year_ahead() -> None:
    configure_money_date_window(None)
    try:
        for body in (
            {"investor_id": "inv", "amount": 1, "received_at": "1900-01-01"},
            {"investor_id": "inv", "amount": 1, "received_at": "9999-12-31"},
            {"investor_id": "inv", "amount": 1, "received_at": "1969-12-31"},
        ):
            with pytest.raises(ValidationError) as raised:
                PaymentCreate.model_validate(body)
            assert raised.value.errors()[0]["loc"] == ("received_at",)
        PaymentCreate.model_validate({"investor_id": "inv", "amount": 1, "received_at": "1970-01-01"})
    finally:
        configure_money_date_window(None)


def test_a_capital_call_due_date_is_a_date_not_a_datetime() -> None:
    body = {"fund_id": "f", "amount": 1000, "purpose": "Acquisition", "due_date": "2026-12-31T00:00:00Z"}
    with pytest.raises(ValidationError) as raised:
        CapitalCallCreate.model_validate(body)
    assert raised.value.errors()[0]["loc"] == ("due_date",)


@pytest.mark.parametrize("code", ["USD", "EUR", "JPY", "BHD", "CHF", "CLF"])
def test_iso_4217_currencies_are_accepted(code: str) -> None:
    assert TypeAdapter(CurrencyCode).validate_python(code) == code


@pytest.mark.parametrize("code", ["ZZZ", "XXX", "XTS", "XAU", "usd", "US", "USDX", "U\x00D", "EUR\n"])
def test_anything_but_an_iso_4217_currency_with_a_minor_unit_is_refused(code: str) -> None:
    with pytest.raises(ValidationError):
        FundCreate.model_validate({"name": "Fund", "currency": code})


# ---------------------------------------------------------------------------------------------- every text input


def _has_text_rule(metadata: list[Any]) -> bool:
    return any(any(item is rule for rule in TEXT_RULES) for item in metadata)


def _refuses_control_characters(metadata: list[Any]) -> bool:
    """A path parameter may instead have a pattern that no control character gets through (an id's)."""
    patterns = [getattr(item, "pattern", None) for item in metadata]
    return any(
        isinstance(pattern, str) and not any(re.search(pattern, f"i{char}d") for char in ("\x00", "\n", "\x1b", "\x85"))
        for pattern in patterns
    )


def _unruled_text(annotation: Any, metadata: list[Any], where: str, seen: set[type]) -> Iterator[str]:
    """Where ``annotation`` (with ``metadata``) holds a ``str`` a client sends that lacks the text rule."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        inner, *extra = typing.get_args(annotation)
        yield from _unruled_text(inner, [*metadata, *extra], where, seen)
    elif origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _unruled_text(arg, metadata, where, seen)
    elif annotation is str:
        if not _has_text_rule(metadata):
            yield where
    elif origin is typing.Literal or annotation is type(None) or annotation in (int, bool, date, datetime):
        return  # a fixed set of values, or no text at all
    elif isinstance(annotation, type) and issubclass(annotation, (enum.Enum, Decimal)):
        return
    elif origin is dict:
        if not any(item is JSON_TEXT for item in metadata):
            yield f"{where} (a free JSON object without JSON_TEXT)"
    elif origin in (list, tuple, set, frozenset):
        for arg in typing.get_args(annotation):
            yield from _unruled_text(arg, [], f"{where}[]", seen)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for name, field in annotation.model_fields.items():
            yield from _unruled_text(field.annotation, list(field.metadata), f"{where}.{name}", seen)
    elif annotation is Any:
        yield f"{where} (Any)"


def _routes(app: FastAPI) -> Iterator[APIRoute]:
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    for context in list(iter_contexts(app.routes)) if iter_contexts else list(app.routes):
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute):
            yield route


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def unruled_inputs(app: FastAPI) -> list[str]:
    """Every query parameter and body field of ``app``'s routes that takes text without the rule."""
    found: list[str] = []
    for route in _routes(app):
        label = f"{sorted(route.methods)[0]} {route.path}"
        for dependant in _dependants(route.dependant):
            found.extend(_unruled_params(dependant, label))
    return sorted(set(found))


def _unruled_params(dependant: Dependant, label: str) -> Iterator[str]:
    if True:
        for param in dependant.query_params:
            yield from _unruled_text(
                param.field_info.annotation, list(param.field_info.metadata), f"{label} ?{param.name}", set()
            )
        for param in dependant.body_params:
            yield from _unruled_text(
                param.field_info.annotation, list(param.field_info.metadata), f"{label} body:{param.name}", set()
            )


# Inputs owned by the sign-in and password code, whose values must reach it exactly as sent (a password
# is never normalized); each is refused by its own checks or compared, never stored as text.
NOT_TEXT = {
    "POST /api/auth/token body:body.password",
    "POST /api/auth/password body:body.current_password",
    "POST /api/auth/password body:body.new_password",
    "POST /api/users body:body.password",
}


def test_every_text_input_of_the_kernel_carries_the_text_rule(tmp_path: Path) -> None:
    from cornerstone.kernel.app import create_app
    from cornerstone.kernel.config import KernelSettings

    with logging_put_back():
        app = create_app(KernelSettings(data_dir=tmp_path))
    configure_money_date_window(None)
    assert unruled_inputs(app) == []


def _bff_api_unruled() -> list[str]:
    from cornerstone.bff.authz.routes import PAGE_TAG
    from tests.integration.helpers import built_bff_app

    # The web UI's pages are clients of the API routes (in process): what they send is judged there.
    api_only = FastAPI()
    api_only.router.routes.extend(route for route in _routes(built_bff_app()) if PAGE_TAG not in (route.tags or ()))
    return [where for where in unruled_inputs(api_only) if where not in NOT_TEXT]


def test_every_text_input_of_the_bff_api_carries_the_text_rule() -> None:
    assert _bff_api_unruled() == []


def test_every_path_parameter_of_the_bff_api_refuses_control_characters() -> None:
    """The BFF's ids go to its own database too (a NUL in one was a 500 on PostgreSQL), so each path
    parameter has the rule or an id pattern. (The kernel's are behind its data-error net.)"""
    from tests.integration.helpers import built_bff_app

    loose = [
        f"{sorted(route.methods)[0]} {route.path} {{{param.name}}}"
        for route in _routes(built_bff_app())
        for dependant in _dependants(route.dependant)
        for param in dependant.path_params
        if param.field_info.annotation is str
        and not _has_text_rule(list(param.field_info.metadata))
        and not _refuses_control_characters(list(param.field_info.metadata))
    ]
    assert loose == []


def test_the_walk_finds_a_text_field_without_the_rule() -> None:
    class Loose(BaseModel):
        title: str
        tags: list[Annotated[str, TEXT_RULES[0]]]
        note: Annotated[str, TEXT_RULES[1]] | None = None
        notes: list[str] = []

    assert sorted(_unruled_text(Loose, [], "body", set())) == ["body.notes[]", "body.title"]


def test_amounts_use_each_currencys_iso_4217_minor_unit() -> None:
    from cornerstone.kit.amounts import exponent, format_amount, is_currency, parse_amount

    assert [exponent(code) for code in ("USD", "JPY", "KWD", "CLF", "UYW")] == [2, 0, 3, 4, 4]
    assert format_amount(12_345_678, "CLF") == "CLF 1,234.5678"
    assert parse_amount("1,234.5678", "CLF") == 12_345_678
    assert (is_currency("USD"), is_currency("usd"), is_currency("XXX"), is_currency("ZZZ")) == (
        True,
        False,
        False,
        False,
    )

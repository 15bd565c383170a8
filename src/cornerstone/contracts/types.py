"""Field types shared by the wire schemas (the kernel's and the BFF's alike).

Text: every ``str`` a client sends carries one rule, ``SINGLE_LINE`` or ``MULTI_LINE`` (a test walks
both services' routes for any that lacks it). It refuses NUL, the other C0 controls, DEL and the C1
controls (a multi-line field keeps tab and newline; a CR LF or lone CR becomes LF) and NFC-normalizes
what it keeps. It runs before the field's own constraints, so a value is judged as sent, and it is
the same on SQLite (which stores a NUL) and PostgreSQL (which refuses one), a 422 naming the field.
An uploaded file's name is the one exception: it is not typed but comes from the sender's file
system, so ``FILE_NAME`` drops control characters instead of refusing them (the kernel sanitizes it).

Dates: ``IsoDate`` takes ``YYYY-MM-DD`` only (pydantic's lax ``date`` also takes a midnight datetime
or a Unix timestamp); ``MoneyDate`` is also inside the window money may move in
(``cornerstone.kit.money.money_date_window``).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, StrictInt
from pydantic_core import PydanticCustomError

from cornerstone.kit.amounts import is_currency
from cornerstone.kit.money import money_date_window

MAX_MINOR_UNITS = 10**15  # ten trillion in a two-decimal currency: far beyond any single deal


def _decimal_from_string(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError('must be a decimal string such as "0.15"')
    if len(value) > 32:
        raise ValueError("must be at most 32 characters")
    try:
        parsed = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError('must be a decimal string such as "0.15"') from exc
    if not parsed.is_finite():
        raise ValueError("must be a finite number")
    return parsed


def _max_six_places(value: Decimal) -> Decimal:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        raise ValueError("must have at most 6 decimal places")
    return value


DecimalString = Annotated[
    Decimal,
    BeforeValidator(_decimal_from_string),
    AfterValidator(_max_six_places),
    PlainSerializer(lambda v: format(v, "f"), return_type=str),
]
"""A rate or ratio, sent and returned as a decimal string (never a float)."""

ReportedRate = Annotated[Decimal, PlainSerializer(lambda v: format(v, "f"), return_type=str)]
"""A rate the platform computed (e.g. an IRR to 9 places), sent as a decimal string; never input."""

MinorUnits = Annotated[StrictInt, Field(gt=0, le=MAX_MINOR_UNITS)]
"""A positive amount in the currency's minor units (cents)."""

# C0 controls, DEL and C1 controls; the multi-line variant spares tab (U+0009) and newline (U+000A).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_TAB_AND_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAK = re.compile(r"\r\n?")


def _nfc(value: str) -> str:
    return value if unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)


def _control_character(kind: str) -> PydanticCustomError:
    # The message never echoes the value (nor the character: a NUL in a log line is its own problem).
    return PydanticCustomError("text_control_character", kind)


def single_line_text(value: Any) -> Any:
    """The text rule of a one-line field: no control character at all; NFC. Non-strings pass on
    unchanged, for the field's own type check to refuse."""
    if not isinstance(value, str):
        return value
    if _CONTROL.search(value):
        raise _control_character("must not contain control characters (tab, line breaks, NUL and the like)")
    return _nfc(value)


def multi_line_text(value: Any) -> Any:
    """The text rule of a multi-line field (a reason, a comment): tab and newline allowed, CR LF and a
    lone CR read as a newline (what a browser's textarea sends), any other control character refused; NFC."""
    if not isinstance(value, str):
        return value
    if "\r" in value:
        value = _LINE_BREAK.sub("\n", value)
    if _CONTROL_BUT_TAB_AND_NEWLINE.search(value):
        raise _control_character("must not contain control characters other than tab and newline")
    return _nfc(value)


SINGLE_LINE = BeforeValidator(single_line_text)
"""The text rule of a one-line field; put it last in the ``Annotated`` so it sees the value as sent."""

MULTI_LINE = BeforeValidator(multi_line_text)
"""The text rule of a multi-line field (tab and newline allowed); last in the ``Annotated``, like ``SINGLE_LINE``."""


def file_name_text(value: Any) -> Any:
    """The text rule of a name that comes with a file (a multipart upload's filename), not typed by
    a person: control characters are dropped rather than refused, as the stored name is sanitized
    anyway (a browser sends what the file system had); NFC."""
    if not isinstance(value, str):
        return value
    if _CONTROL.search(value):
        value = _CONTROL.sub("", value)
    return _nfc(value)


FILE_NAME = BeforeValidator(file_name_text)
"""The text rule of an uploaded file's name: control characters dropped, not refused."""

TEXT_RULES = (SINGLE_LINE, MULTI_LINE, FILE_NAME)

SingleLineText = Annotated[str, SINGLE_LINE]
MultiLineText = Annotated[str, MULTI_LINE]


def _json_text(value: Any) -> Any:
    problem = json_text_problem(value)
    if problem is not None:
        raise PydanticCustomError("text_control_character", problem)
    return value


JSON_TEXT = AfterValidator(_json_text)
"""The text rule of a free JSON value (a material's ``data``): keys one-line, strings multi-line; not normalized
(the value is stored as sent)."""


def json_text_problem(value: Any) -> str | None:
    """Why a free JSON value (a material's ``data``) breaks the text rule: its keys follow the one-line
    rule, its strings the multi-line one. ``None`` when it holds. Walks iteratively."""
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                if isinstance(key, str) and _CONTROL.search(key):
                    return "object keys must not contain control characters"
                pending.append(child)
        elif isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, str) and _CONTROL_BUT_TAB_AND_NEWLINE.search(node):
            return "strings must not contain control characters other than tab and newline"
    return None


def _iso_4217(value: str) -> str:
    if not is_currency(value):
        raise PydanticCustomError("currency_code", "must be an ISO 4217 currency code with a minor unit, such as USD")
    return value


CurrencyCode = Annotated[
    str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code"), AfterValidator(_iso_4217), SINGLE_LINE
]
"""An ISO 4217 code of a currency that has a minor unit (USD, EUR, JPY, BHD; not XXX, XTS or XAU)."""

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> Any:
    if isinstance(value, str):
        if not _ISO_DATE.fullmatch(value):
            raise PydanticCustomError("date_format", "must be a date as YYYY-MM-DD (not a datetime)")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("date_format", "must be a real calendar date as YYYY-MM-DD") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise PydanticCustomError("date_type", "must be a date as YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
"""A calendar date, sent as ``YYYY-MM-DD`` only (never a datetime, a timestamp or ``20261231``)."""


def _in_money_window(value: date) -> date:
    window = money_date_window()
    if value < window.earliest:
        raise PydanticCustomError(
            "money_date_too_early", "must not be before {earliest}", {"earliest": window.earliest.isoformat()}
        )
    latest = window.latest()
    if value > latest:
        raise PydanticCustomError(
            "money_date_too_late",
            "must not be more than {days} days ahead (after {latest})",
            {"days": window.max_days_ahead, "latest": latest.isoformat()},
        )
    return value


MoneyDate = Annotated[IsoDate, AfterValidator(_in_money_window)]
"""The date of a money movement or its schedule (a payment, a call's due date, a distribution, a NAV
mark): an ``IsoDate`` inside the money-date window, which is a setting."""

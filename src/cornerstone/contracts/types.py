"""Field types shared by the wire schemas."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, StrictInt

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

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]

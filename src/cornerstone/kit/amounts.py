"""Amounts as people read and type them: integer minor units <-> "$1,250,000.50".

Rules (each tested to the cent):

- A currency's minor unit is its ISO 4217 exponent (2 for USD, 0 for JPY, 3 for BHD, 4 for CLF),
  from the ISO 4217 table the ``iso4217`` package ships (pinned: a new edition of the standard is a
  new version of it). ``is_currency`` says whether a code is one of the table's currencies that has
  a minor unit (not XXX, XTS or the metals); a code outside the table (only data stored before the
  check existed could hold one) is shown with 2 decimals. Only the code matters; no float is ever
  involved.
- ``format_amount(125000050, "USD")`` -> ``"$1,250,000.50"``: the currency's symbol where it has
  an unambiguous one (``$`` for USD, ``€``, ``£``, ``¥`` for JPY), else the code and a space
  (``"CHF 1,250,000.50"``); thousands grouped by commas; exactly the exponent's decimals; a
  negative amount leads with ``-``.
- ``parse_amount("1,250,000.50", "USD")`` -> ``125000050``. Accepted: digits with optional comma
  grouping (groups of three), an optional decimal point and at most the exponent's decimals,
  surrounding spaces, an optional leading currency symbol or code. Refused (``AmountError``,
  with a sentence for the form): more decimals than the currency has (never rounded: a typed
  cent that would vanish is a typo to show, not to guess), a sign, letters, misplaced commas,
  more than 18 whole digits, nothing at all. The value is computed with integers only.
"""

from __future__ import annotations

import re

from iso4217 import Currency

# Every current ISO 4217 currency with a minor unit, by code: its exponent. Codes without one (XXX
# "no currency", XTS "testing", the metals, the SDR) are not money the platform keeps.
_EXPONENTS: dict[str, int] = {
    currency.code: currency.exponent for currency in Currency if currency.exponent is not None
}
_SYMBOLS: dict[str, str] = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
# ASCII digits only (``\d`` would admit other scripts' digits).
_TYPED = re.compile(r"^(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]*))?$|^\.([0-9]+)$")


# More whole digits than any amount the API accepts (10**15 minor units) could ever need.
_MAX_DIGITS = 18


def example(currency: str) -> str:
    """How an amount of ``currency`` is typed, for a form's hint: ``1,250,000.50`` / ``1,250,000``."""
    places = exponent(currency)
    return "1,250,000" + ("." + "50".ljust(places, "0")[:places] if places else "")


class AmountError(ValueError):
    """Text that is not an amount of the currency; the message is a sentence for the person typing."""


def is_currency(code: str) -> bool:
    """Whether ``code`` (exactly as given: upper case) is an ISO 4217 currency with a minor unit."""
    return code in _EXPONENTS


def exponent(currency: str) -> int:
    """The currency's ISO 4217 minor-unit exponent (2 for a code outside the table)."""
    return _EXPONENTS.get(currency.upper(), 2)


def format_amount(minor_units: int, currency: str) -> str:
    places = exponent(currency)
    sign = "-" if minor_units < 0 else ""
    whole, fraction = divmod(abs(minor_units), 10**places)
    text = f"{whole:,}" + (f".{fraction:0{places}d}" if places else "")
    symbol = _SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{currency.upper()} {text}"


def format_major(minor_units: int, currency: str) -> str:
    """The amount as it would be typed back into a form: ``"1250000.50"`` (no symbol, no commas)."""
    places = exponent(currency)
    sign = "-" if minor_units < 0 else ""
    whole, fraction = divmod(abs(minor_units), 10**places)
    return f"{sign}{whole}" + (f".{fraction:0{places}d}" if places else "")


def parse_amount(text: str, currency: str) -> int:
    places = exponent(currency)
    cleaned = text.strip()
    code = currency.upper()
    symbol = _SYMBOLS.get(code)
    if cleaned.upper().startswith(code):
        cleaned = cleaned[len(code) :].strip()
    elif symbol and cleaned.startswith(symbol):
        cleaned = cleaned[len(symbol) :].strip()
    if not cleaned:
        raise AmountError("Enter an amount.")
    match = _TYPED.match(cleaned)
    if match is None:
        raise AmountError("Enter an amount in digits, like 1,250,000.50.")
    decimals = match.group(1) if match.group(1) is not None else (match.group(2) or "")
    if len(decimals) > places:
        if places == 0:
            raise AmountError(f"{code} amounts have no decimals.")
        raise AmountError(f"{code} amounts have at most {places} decimals.")
    whole = cleaned.split(".", 1)[0].replace(",", "") or "0"
    if len(whole) > _MAX_DIGITS:
        raise AmountError("This amount is too large.")
    # Integer arithmetic only: nothing is rounded, however many digits were typed.
    scale: int = 10**places
    return int(whole) * scale + int(decimals.ljust(places, "0") or "0")

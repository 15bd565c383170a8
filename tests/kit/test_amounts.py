"""Amounts as people type and read them, to the cent (kit/amounts.py's rules)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cornerstone.kit.amounts import AmountError, example, exponent, format_amount, format_major, parse_amount


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (125_000_050, "USD", "$1,250,000.50"),
        (5, "USD", "$0.05"),
        (0, "USD", "$0.00"),
        (-125_000_050, "USD", "-$1,250,000.50"),
        (99, "EUR", "€0.99"),
        (100_000, "GBP", "£1,000.00"),
        (1_234_567, "JPY", "¥1,234,567"),
        (1_234_567, "KWD", "KWD 1,234.567"),
        (100, "CHF", "CHF 1.00"),
    ],
)
def test_amounts_are_shown_with_their_currency_and_its_decimals(minor: int, currency: str, shown: str) -> None:
    assert format_amount(minor, currency) == shown


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("1,250,000.50", "USD", 125_000_050),
        ("$1,250,000.50", "USD", 125_000_050),
        ("USD 1250000.5", "USD", 125_000_050),
        ("  1250000  ", "USD", 125_000_000),
        ("12.", "USD", 1_200),
        (".5", "USD", 50),
        ("0.01", "USD", 1),
        ("1,000", "JPY", 1_000),
        ("1.234", "KWD", 1_234),
        ("€3", "EUR", 300),
        ("123456789012.34", "USD", 12_345_678_901_234),
        ("123,456,789,012,345,678.99", "USD", 12_345_678_901_234_567_899),  # exact: no 28-digit rounding
    ],
)
def test_typed_amounts_are_read_exactly(typed: str, currency: str, minor: int) -> None:
    assert parse_amount(typed, currency) == minor


@pytest.mark.parametrize(
    ("typed", "currency", "message"),
    [
        ("", "USD", "Enter an amount."),
        ("   ", "USD", "Enter an amount."),
        ("$", "USD", "Enter an amount."),
        ("1.001", "USD", "USD amounts have at most 2 decimals."),
        ("1.5", "JPY", "JPY amounts have no decimals."),
        ("1.2345", "KWD", "KWD amounts have at most 3 decimals."),
        ("-3", "USD", "Enter an amount in digits, like 1,250,000.50."),
        ("1,25", "USD", "Enter an amount in digits, like 1,250,000.50."),
        ("12,34,567", "USD", "Enter an amount in digits, like 1,250,000.50."),
        ("1e6", "USD", "Enter an amount in digits, like 1,250,000.50."),
        ("NaN", "USD", "Enter an amount in digits, like 1,250,000.50."),
        ("1 000", "USD", "Enter an amount in digits, like 1,250,000.50."),
        ("١٢٣", "USD", "Enter an amount in digits, like 1,250,000.50."),
        ("£5", "USD", "Enter an amount in digits, like 1,250,000.50."),
        ("9" * 19, "USD", "This amount is too large."),
    ],
)
def test_what_is_not_an_amount_is_refused_with_a_sentence_never_rounded(
    typed: str, currency: str, message: str
) -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount(typed, currency)
    assert str(refused.value) == message


def test_a_forms_hint_shows_the_currencys_own_decimals() -> None:
    assert (example("USD"), example("JPY"), example("KWD")) == ("1,250,000.50", "1,250,000", "1,250,000.500")
    for currency in ("USD", "JPY", "KWD"):
        parse_amount(example(currency), currency)  # the hint is itself a valid amount


def test_exponents_follow_iso_4217() -> None:
    assert (exponent("USD"), exponent("jpy"), exponent("BHD"), exponent("XYZ")) == (2, 0, 3, 2)


@given(st.integers(min_value=0, max_value=10**15), st.sampled_from(["USD", "EUR", "JPY", "KWD", "CHF"]))
def test_what_is_shown_reads_back_to_the_same_minor_units(minor: int, currency: str) -> None:
    assert parse_amount(format_amount(minor, currency), currency) == minor
    assert parse_amount(format_major(minor, currency), currency) == minor

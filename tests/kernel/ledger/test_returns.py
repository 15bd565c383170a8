from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cornerstone.kernel.ledger import returns
from cornerstone.kernel.ledger.returns import CashFlow, ratio, xirr, xnpv

CENT = Decimal("0.01")

# Microsoft's documented XIRR/XNPV example, in cents (the documentation gives whole units).
EXCEL_EXAMPLE = [
    CashFlow(date(2008, 1, 1), -1_000_000),
    CashFlow(date(2008, 3, 1), 275_000),
    CashFlow(date(2008, 10, 30), 425_000),
    CashFlow(date(2009, 2, 15), 325_000),
    CashFlow(date(2009, 4, 1), 275_000),
]


def _exact_two_flow_rate(paid: int, received: int, days: int) -> Decimal:
    """(received / paid) ** (365 / days) - 1, with more digits than xirr works with."""
    with localcontext() as context:
        context.prec = 60
        return (Decimal(received) / Decimal(paid)).ln().fma(Decimal(365) / days, 0).exp() - 1


def test_xnpv_matches_excels_documented_example() -> None:
    # Excel documents 2086.647602 (currency units) at 9 %.
    assert xnpv(Decimal("0.09"), EXCEL_EXAMPLE).quantize(CENT) == Decimal("208664.76")
    assert abs(xnpv(Decimal("0.09"), EXCEL_EXAMPLE) - Decimal("208664.7602")) < Decimal("0.0001")


def test_xirr_matches_excels_documented_example_to_its_own_precision() -> None:
    # Excel documents 0.373362535, but Excel stops iterating at a 1e-8 tolerance: the exact root is
    # 0.37336253351883..., which is 0.373362534 to 9 places (half-even). We report the exact root.
    rate = xirr(EXCEL_EXAMPLE)
    assert rate == Decimal("0.373362534")
    assert abs(rate - Decimal("0.373362535")) <= Decimal("1e-9")
    assert abs(xnpv(Decimal("0.3733625335188"), EXCEL_EXAMPLE)) < Decimal("0.001")


def test_xirr_is_quantized_to_nine_places() -> None:
    rate = xirr(EXCEL_EXAMPLE)
    assert rate is not None
    assert rate.as_tuple().exponent == -9


def test_xirr_of_ten_percent_over_exactly_365_days() -> None:
    flows = [CashFlow(date(2021, 1, 1), -100_000), CashFlow(date(2022, 1, 1), 110_000)]
    assert xirr(flows) == Decimal("0.100000000")


def test_xirr_counts_a_leap_year_as_366_days() -> None:
    flows = [CashFlow(date(2020, 1, 1), -100_000), CashFlow(date(2021, 1, 1), 110_000)]
    assert xirr(flows) == _exact_two_flow_rate(100_000, 110_000, 366).quantize(Decimal("1e-9"))


def test_xirr_of_a_loss_is_negative() -> None:
    flows = [
        CashFlow(date(2021, 1, 1), -500_000),
        CashFlow(date(2021, 7, 1), -500_000),
        CashFlow(date(2023, 1, 1), 600_000),
    ]
    rate = xirr(flows)
    assert rate is not None
    assert Decimal(-1) < rate < 0
    assert abs(xnpv(rate, flows)) < Decimal(1)


def test_xirr_does_not_depend_on_the_order_of_the_flows() -> None:
    assert xirr(list(reversed(EXCEL_EXAMPLE))) == xirr(EXCEL_EXAMPLE)


@pytest.mark.parametrize(
    "flows",
    [
        pytest.param([], id="empty"),
        pytest.param([CashFlow(date(2021, 1, 1), -100)], id="single flow"),
        pytest.param([CashFlow(date(2021, 1, 1), -100), CashFlow(date(2022, 1, 1), -50)], id="all paid in"),
        pytest.param([CashFlow(date(2021, 1, 1), 100), CashFlow(date(2022, 1, 1), 50)], id="all received"),
        pytest.param([CashFlow(date(2021, 1, 1), 0), CashFlow(date(2022, 1, 1), 0)], id="all zero"),
    ],
)
def test_xirr_is_not_defined_unless_money_went_both_ways(flows: list[CashFlow]) -> None:
    assert xirr(flows) is None


def test_xirr_is_none_when_the_xnpv_never_reaches_zero() -> None:
    # -100 + 200x - 101x**2 < 0 for every x = 1/(1+r): there is no IRR.
    flows = [
        CashFlow(date(2021, 1, 1), -100),
        CashFlow(date(2022, 1, 1), 200),
        CashFlow(date(2023, 1, 1), -101),
    ]
    assert xirr(flows) is None


def _spy_on_bracketing(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []
    original: Callable[..., Decimal | None] = returns._bracketed_root

    def spy(*args: object) -> Decimal | None:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(returns, "_bracketed_root", spy)
    return calls


def test_xirr_brackets_the_root_when_newton_leaves_the_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    # A near-total loss: from 0.1 the first Newton step lands far below -1.
    flows = [CashFlow(date(2021, 1, 1), -10_000_000), CashFlow(date(2022, 1, 1), 10_000)]
    calls = _spy_on_bracketing(monkeypatch)
    rate = xirr(flows)
    assert calls, "Newton was expected to fail on this series"
    assert rate == Decimal("-0.999000000")
    assert abs(xnpv(rate, flows)) < Decimal("0.01")


def test_xirr_brackets_the_root_when_newton_does_not_converge(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 50x multiple in two days: from 0.1 Newton only creeps up (by about 180x a step) and runs
    # out of iterations long before the rate of about 10**310.
    flows = [CashFlow(date(2021, 1, 1), -100), CashFlow(date(2021, 1, 3), 5_000)]
    calls = _spy_on_bracketing(monkeypatch)
    rate = xirr(flows)
    assert calls, "Newton was expected to fail on this series"
    assert rate is not None
    expected = _exact_two_flow_rate(100, 5_000, 2)
    assert abs(rate - expected) <= expected * Decimal("1e-20")
    assert abs(xnpv(rate, flows)) < Decimal("1e-15")


def test_xirr_reports_one_root_when_a_clawback_gives_the_series_two() -> None:
    # Paid in, distributed, then called again: XNPV is zero at both 5 % and 30 %.
    flows = [
        CashFlow(date(2021, 1, 1), -1_000_000),
        CashFlow(date(2022, 1, 1), 2_350_000),
        CashFlow(date(2023, 1, 1), -1_365_000),
    ]
    assert abs(xnpv(Decimal("0.05"), flows)) < Decimal("1e-20")
    assert abs(xnpv(Decimal("0.3"), flows)) < Decimal("1e-20")
    assert xirr(flows) in {Decimal("0.050000000"), Decimal("0.300000000")}


@settings(max_examples=60, deadline=None)
@given(
    paid=st.integers(min_value=1, max_value=10**12),
    multiple=st.decimals(min_value=Decimal("0.05"), max_value=20, places=4),
    days=st.integers(min_value=1, max_value=30 * 365),
    start=st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 1, 1)),
)
def test_two_flow_xirr_matches_the_closed_form(paid: int, multiple: Decimal, days: int, start: date) -> None:
    received = int(paid * multiple)
    if received <= 0:
        received = 1
    flows = [CashFlow(start, -paid), CashFlow(start + timedelta(days=days), received)]
    rate = xirr(flows)
    assert rate is not None
    expected = _exact_two_flow_rate(paid, received, days)
    assert abs(rate - expected) <= Decimal("1e-6") * max(Decimal(1), abs(expected))


def test_xnpv_discounts_from_the_first_flows_date() -> None:
    flows = [CashFlow(date(2021, 1, 1), -1000), CashFlow(date(2022, 1, 1), 1100)]
    assert xnpv(Decimal("0.1"), flows) == 0
    assert xnpv(Decimal(0), flows) == 100
    assert xnpv(Decimal("0.1"), []) == 0


def test_xnpv_refuses_a_rate_at_or_below_minus_one() -> None:
    with pytest.raises(ValueError, match="rate > -1"):
        xnpv(Decimal(-1), EXCEL_EXAMPLE)


def test_returns_leave_the_callers_decimal_context_alone() -> None:
    with localcontext() as context:
        context.prec = 5
        assert xirr(EXCEL_EXAMPLE) == Decimal("0.373362534")
        assert context.prec == 5


def test_a_cash_flow_takes_integer_minor_units_and_a_calendar_date() -> None:
    with pytest.raises(TypeError, match="int"):
        CashFlow(date(2021, 1, 1), 10.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="int"):
        CashFlow(date(2021, 1, 1), Decimal(10))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="date"):
        CashFlow(datetime(2021, 1, 1, 12), 10)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (1, 3, Decimal("0.3333")),
        (2, 3, Decimal("0.6667")),
        (150_000, 100_000, Decimal("1.5000")),
        (5, 100_000, Decimal("0.0000")),  # 0.00005: the half goes to the even 0.0000
        (15, 100_000, Decimal("0.0002")),  # 0.00015: the half goes to the even 0.0002
        (25, 100_000, Decimal("0.0002")),
        (-15, 100_000, Decimal("-0.0002")),
        (-1, 3, Decimal("-0.3333")),
        (0, 7, Decimal("0.0000")),
        (10**30, 7, Decimal("142857142857142857142857142857.1429")),
    ],
)
def test_ratio_rounds_half_even_to_four_places(numerator: int, denominator: int, expected: Decimal) -> None:
    result = ratio(numerator, denominator)
    assert result == expected
    assert result is not None
    assert result.as_tuple().exponent == -4


def test_ratio_is_not_defined_before_any_capital_is_contributed() -> None:
    assert ratio(100, 0) is None
    assert ratio(0, 0) is None


@given(numerator=st.integers(min_value=-(10**15), max_value=10**15), denominator=st.integers(1, 10**15))
def test_ratio_is_within_half_a_unit_of_the_exact_quotient(numerator: int, denominator: int) -> None:
    result = ratio(numerator, denominator)
    assert result is not None
    with localcontext() as context:
        context.prec = 60
        assert abs(result - Decimal(numerator) / Decimal(denominator)) <= Decimal("0.00005")

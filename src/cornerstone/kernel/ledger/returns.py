"""Fund return metrics: XNPV, XIRR and the multiples (DPI, RVPI, TVPI), as pure functions.

Money comes in as integer minor units and every computation is in ``Decimal``, never float, so a
figure is the same on every machine and every run. Signs follow the investor's view: a negative
amount is paid in by the investor (a contribution), a positive one is received (a distribution).

Time is Actual/365 in whole days, as Excel's XNPV and XIRR count it, so our figures can be checked
against a spreadsheet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)

__all__ = ["IRR_PLACES", "RATIO_PLACES", "CashFlow", "ratio", "xirr", "xnpv"]

IRR_PLACES = 9
"""Decimal places of a reported IRR (0.373362534 is 37.3362534 %), rounded half-even."""

RATIO_PLACES = 4
"""Decimal places of a reported multiple (1.2345x), rounded half-even."""

_IRR_QUANTUM = Decimal(1).scaleb(-IRR_PLACES)
_PRECISION = 34  # significant digits, as IEEE decimal128: ample for 9 places of a rate
_DAYS_PER_YEAR = 365
_GUESS = Decimal("0.1")  # Excel's default guess
_NEWTON_MAX_ITERATIONS = 50
_BRENT_MAX_ITERATIONS = 500
# |xnpv| at a root, relative to the sum of the discounted flows' magnitudes. With 34 digits the
# rounding error of a sum of 10**4 terms is near 1e-30, so 1e-24 is reachable and still tiny.
_RESIDUAL_TOLERANCE = Decimal("1e-24")
_STEP_TOLERANCE = Decimal("1e-30")  # a Newton step this small (relative) cannot improve the rate
_LOG_TOLERANCE = Decimal("1e-24")  # absolute tolerance on ln(1 + rate) in the bracketing search
# The bracket search walks ln(1 + rate) away from the guess by 1/16 x 1.5**k, k = 0..31, on each
# side: steps of a few percent near ordinary rates, growing to reach 1 + rate = e**±18000.
_SEARCH_FIRST_OFFSET = Decimal("0.0625")
_SEARCH_GROWTH = Decimal("1.5")
_SEARCH_STEPS = 32


@dataclass(frozen=True, slots=True)
class CashFlow:
    """One dated movement of money between an investor and the fund, in integer minor units.

    ``amount`` is negative when the investor pays in (capital contributed) and positive when the
    investor receives (a distribution, or the closing value of the position). Dates are calendar
    days: a ``datetime`` is refused, so a time of day can never shift a flow to another day.
    """

    on: date
    amount: int

    def __post_init__(self) -> None:
        if isinstance(self.on, datetime) or not isinstance(self.on, date):
            raise TypeError("CashFlow.on must be a date (not a datetime)")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("CashFlow.amount must be an int of minor units")


@contextmanager
def _arithmetic() -> Iterator[Context]:
    """A private decimal context: 34 digits, half-even, with overflow and invalid operations trapped.

    Local, so a caller's context is neither used nor changed.
    """
    context = Context(
        prec=_PRECISION,
        rounding=ROUND_HALF_EVEN,
        Emax=MAX_EMAX,
        Emin=MIN_EMIN,
        traps=[InvalidOperation, DivisionByZero, Overflow],
    )
    with localcontext(context) as active:
        yield active


@dataclass(frozen=True, slots=True)
class _Series:
    """Amounts with their times in days from an origin; ``years`` are days / 365."""

    amounts: tuple[Decimal, ...]
    days: tuple[int, ...]

    @classmethod
    def from_flows(cls, flows: Sequence[CashFlow], origin: date) -> _Series:
        return cls(
            amounts=tuple(Decimal(flow.amount) for flow in flows),
            days=tuple((flow.on - origin).days for flow in flows),
        )

    def terms(self, log_growth: Decimal) -> Iterator[tuple[Decimal, Decimal]]:
        """Yield each (discounted amount, years) at ``log_growth`` = ln(1 + rate)."""
        for amount, days in zip(self.amounts, self.days, strict=True):
            # (1 + rate) ** -(days / 365), as one exp so the time is rounded only once.
            yield amount * (-(log_growth * days) / _DAYS_PER_YEAR).exp(), Decimal(days) / _DAYS_PER_YEAR

    def value(self, log_growth: Decimal) -> tuple[Decimal, Decimal]:
        """The net present value at ``log_growth`` and the sum of the terms' magnitudes (its scale)."""
        total = Decimal(0)
        scale = Decimal(0)
        for term, _years in self.terms(log_growth):
            total += term
            scale += abs(term)
        return total, scale


def xnpv(rate: Decimal, flows: Sequence[CashFlow]) -> Decimal:
    """The net present value of ``flows`` at the annual ``rate``, in the flows' minor units.

    Each amount is discounted by (1 + rate) ** (days / 365), days counted from the *first* flow's
    date (as Excel's XNPV does; later flows need not be sorted). The result is not rounded: it
    carries 34 significant digits, for the caller to quantize. An empty list is worth 0.

    Raises ``ValueError`` when rate <= -1, where the discount factor is not defined.
    """
    if rate <= -1:
        raise ValueError("xnpv is defined for rate > -1 only")
    if not flows:
        return Decimal(0)
    with _arithmetic():
        series = _Series.from_flows(flows, flows[0].on)
        total, _scale = series.value((1 + rate).ln())
        return +total


def xirr(flows: Sequence[CashFlow]) -> Decimal | None:
    """The annual rate at which ``flows`` have an XNPV of zero, or None where it is not defined.

    None when the flows lack a negative or a positive amount (money only went one way, or there
    are no flows), or when no rate in the searched range has an XNPV of zero. A valid list never
    raises.

    Method: Newton's method on the rate from a guess of 0.1 (Excel's default), so that where a
    series has several IRRs we report the one a spreadsheet would. When Newton fails to converge
    within 50 steps, steps to rate <= -1, or meets a flat derivative, the root is bracketed instead:
    ln(1 + rate) is walked out from the guess on both sides (by 1/16 x 1.5**k, up to about 18000)
    until the XNPV changes sign, and Brent's method closes the bracket. Newton has converged when
    |XNPV| <= 1e-24 x the sum of the discounted flows' magnitudes; Brent when ln(1 + rate) is known
    to 1e-24. Rates are not capped: a large multiple over a few days has a rate with hundreds of
    digits, and that is what is returned.

    Rounding: computed with 34 significant digits, then quantized to 9 decimal places with
    ROUND_HALF_EVEN (0.373362534 = 37.3362534 %). A loss within 5e-10 of total therefore reports
    as -1.000000000.
    """
    if not any(flow.amount < 0 for flow in flows) or not any(flow.amount > 0 for flow in flows):
        return None
    with _arithmetic():
        # The root does not depend on the origin; the earliest date keeps every exponent >= 0.
        series = _Series.from_flows(flows, min(flow.on for flow in flows))
        rate = _newton(series)
        if rate is None:
            log_growth = _bracketed_root(series)
            if log_growth is None:
                return None
            rate = log_growth.exp() - 1
    # Quantizing a huge rate to 9 places needs more digits than the working precision.
    digits = max(rate.adjusted(), 0) + IRR_PLACES + 2
    return rate.quantize(_IRR_QUANTUM, rounding=ROUND_HALF_EVEN, context=Context(prec=max(digits, _PRECISION)))


def _newton(series: _Series) -> Decimal | None:
    """Newton's method on the rate from the guess; None when it does not converge in the domain."""
    rate = _GUESS
    try:
        for _ in range(_NEWTON_MAX_ITERATIONS):
            growth = 1 + rate
            total = Decimal(0)
            scale = Decimal(0)
            slope = Decimal(0)
            for term, years in series.terms(growth.ln()):
                total += term
                scale += abs(term)
                slope -= years * term
            if abs(total) <= _RESIDUAL_TOLERANCE * scale:
                return rate
            if slope == 0:
                return None
            step = total * growth / slope  # d/dr of a * (1+r)**-t is -t * a * (1+r)**-t / (1+r)
            rate -= step
            if rate <= -1:
                return None
            if abs(step) <= _STEP_TOLERANCE * max(abs(rate), Decimal(1)):
                return rate
    except (Overflow, InvalidOperation):
        return None
    return None


def _bracketed_root(series: _Series) -> Decimal | None:
    """A root of the XNPV in u = ln(1 + rate), found by bracketing and Brent; None when none is found."""
    center = (1 + _GUESS).ln()

    def net(log_growth: Decimal) -> Decimal:
        return series.value(log_growth)[0]

    try:
        center_value = net(center)
    except (Overflow, InvalidOperation):
        return None
    if center_value == 0:
        return center
    # Each side: the last point reached and its value, or None once the side can go no further.
    sides: list[tuple[Decimal, Decimal] | None] = [(center, center_value), (center, center_value)]
    offset = _SEARCH_FIRST_OFFSET
    for _ in range(_SEARCH_STEPS):
        for index, direction in enumerate((1, -1)):
            side = sides[index]
            if side is None:
                continue
            previous, previous_value = side
            point = center + direction * offset
            try:
                value = net(point)
            except (Overflow, InvalidOperation):
                sides[index] = None
                continue
            if value == 0:
                return point
            if (value < 0) != (previous_value < 0):
                return _brent(net, previous, point, previous_value, value)
            sides[index] = (point, value)
        offset *= _SEARCH_GROWTH
    return None


def _brent(
    function: Callable[[Decimal], Decimal], a: Decimal, b: Decimal, value_a: Decimal, value_b: Decimal
) -> Decimal | None:
    """Brent's root finder on a bracket [a, b] whose values differ in sign (after scipy's brentq).

    Interpolates while that shrinks the bracket fast enough and bisects otherwise, so it always
    converges. None when an evaluation overflows or the iteration budget runs out.
    """
    relative_tolerance = Decimal(4) * Decimal(10) ** (1 - _PRECISION)
    previous, current = a, b
    value_previous, value_current = value_a, value_b
    block, value_block = previous, value_previous
    step_previous = step_current = current - previous
    for _ in range(_BRENT_MAX_ITERATIONS):
        if value_previous != 0 and value_current != 0 and (value_previous < 0) != (value_current < 0):
            block, value_block = previous, value_previous
            step_previous = step_current = current - previous
        if abs(value_block) < abs(value_current):
            previous, current, block = current, block, current
            value_previous, value_current, value_block = value_current, value_block, value_current
        tolerance = (_LOG_TOLERANCE + relative_tolerance * abs(current)) / 2
        bisection = (block - current) / 2
        if value_current == 0 or abs(bisection) < tolerance:
            return current
        if abs(step_previous) > tolerance and abs(value_current) < abs(value_previous):
            if previous == block:  # secant
                trial = -value_current * (current - previous) / (value_current - value_previous)
            else:  # inverse quadratic interpolation
                slope_previous = (value_previous - value_current) / (previous - current)
                slope_block = (value_block - value_current) / (block - current)
                trial = (
                    -value_current
                    * (value_block * slope_block - value_previous * slope_previous)
                    / (slope_block * slope_previous * (value_block - value_previous))
                )
            if 2 * abs(trial) < min(abs(step_previous), 3 * abs(bisection) - tolerance):
                step_previous, step_current = step_current, trial
            else:
                step_previous = step_current = bisection
        else:
            step_previous = step_current = bisection
        previous, value_previous = current, value_current
        if abs(step_current) > tolerance:
            current += step_current
        else:
            current += tolerance if bisection > 0 else -tolerance
        try:
            value_current = function(current)
        except (Overflow, InvalidOperation):
            return None
    return None


def ratio(numerator: int, denominator: int) -> Decimal | None:
    """``numerator / denominator`` to 4 decimal places, ROUND_HALF_EVEN; None when the denominator is 0.

    Exact: the quotient is rounded once, in integer arithmetic, so no intermediate rounding can
    move a half. The fund multiples are ratios of minor-unit totals:

    - DPI (distributions to paid-in) = ratio(distributed, contributed)
    - RVPI (residual value to paid-in) = ratio(nav, contributed)
    - TVPI (total value to paid-in) = ratio(distributed + nav, contributed)

    None (not 0) before any capital is contributed: the multiple is undefined, not zero.
    """
    if denominator == 0:
        return None
    negative = (numerator < 0) != (denominator < 0)
    quotient, remainder = divmod(abs(numerator) * 10**RATIO_PLACES, abs(denominator))
    twice_remainder = 2 * remainder
    if twice_remainder > abs(denominator) or (twice_remainder == abs(denominator) and quotient % 2 == 1):
        quotient += 1
    sign = "-" if negative and quotient else ""
    return Decimal(f"{sign}{quotient}E-{RATIO_PLACES}")

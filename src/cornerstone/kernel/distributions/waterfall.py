"""The European (whole-fund) distribution waterfall, and plain pro-rata distributions. Pure: no I/O.

Money is ``int`` cents, rates are ``Decimal``; nothing passes through a float.

The fund's state, replayed from its history
-------------------------------------------
For every LP investor ``i`` the state is replayed in date order from the contributions and
the prior distributions (what was actually paid before), using only events dated on or
before the distribution date ``on``; an event dated later is ignored. Events on the same
date: contributions first, then distributions, each kind in the order given.

- ``K_i``: unreturned contributed capital, in cents.
- ``P_i``: accrued, unpaid preferred return, in cents, an exact ``Decimal`` computed in a
  local decimal context of 40 significant digits (``ROUND_HALF_EVEN`` inside it).
- ``C_i``: contributed capital (the sum of ``i``'s contributions up to ``on``). The LP side of
  the catch-up and of the split is shared by ``C_i``.

Preferred return accrues between consecutive events of an investor (and up to ``on``) on the
Act/365 day count, ``n`` calendar days at rate ``r``:

- ``simple``: ``P_i += K_i * r * n / 365``; unpaid pref earns nothing.
- ``annual``: ``P_i += (K_i + P_i) * ((1 + r) ** (n / 365) - 1)``: the whole unpaid balance
  compounds at the effective annual rate ``r`` (``Decimal`` power; a whole number of 365-day
  years is exact, e.g. two years grow by exactly ``1.08 ** 2``).

Because ``K_i`` changes at each contribution and capital return, this is "pref from each
contribution date, on the capital not yet returned".

A prior distribution pays ``x_i`` to LP ``i``: it returns capital first (``K_i`` falls by up to
``x_i``), then pays pref (``P_i`` falls by the next part, up to ``P_i`` rounded half up to the
cent), and the rest is LP profit. Its ``gp_amount`` is GP profit received, whichever tier it
came from. A prior payment to an investor with no contribution up to its date is all LP profit.
The replay keeps ``L`` (the LPs' cumulative profit: pref paid plus everything beyond capital and
pref) and ``G`` (the GP's cumulative receipts).

The tiers of a new distribution of ``amount`` cents on ``on``
-------------------------------------------------------------
After accruing every investor to ``on``, in order, each tier taking what is left:

1. ``return_of_capital`` = ``min(amount, sum K_i)``, split by ``K_i``, capped at ``K_i``.
2. ``preferred_return``: investor ``i`` is owed ``max(0, round_half_up(P_i))`` cents; the tier is
   ``min(left, sum owed)``, split by what is owed, capped at it.
3. ``catch_up`` (none when ``catch_up_rate`` is 0): with ``c`` the catch-up rate, ``k`` the carry rate,
   ``L`` the LPs' cumulative profit including this distribution's tier 2 and ``G`` the GP's
   cumulative receipts, the GP has caught up when ``G + c*x = k*(L + G + x)``, that is at
   ``x = (k*(L + G) - G) / (c - k)`` (exact rational). The tier is ``min(left, ceil(x))`` when
   ``x > 0``, else 0. The GP gets ``min(tier, round_half_up(c * tier))``; the LPs the rest.
4. ``split``: of the rest ``R``, ``split_gp = round_half_up(k * R)`` and ``split_lp = R - split_gp``.

``carried_interest`` is the GP's part of the catch-up plus ``split_gp``. The LPs' part of the
catch-up and ``split_lp`` are added together and shared by contributed capital ``C_i`` in one
allocation (so an investor's profit is within a cent of its exact pro-rata share).

Rounding rules (each tested to the cent)
----------------------------------------
- Every split among investors is ``cornerstone.kit.money.allocate``: floors of the exact shares,
  leftover cents by largest remainder, then larger weight, then investor id ascending.
- Pref owed per investor: ``P_i`` rounded half up to the cent. The sub-cent residual stays in
  ``P_i`` (it is negative after a fraction of a cent was rounded up) and carries forward, so
  whenever an investor's pref is paid in full, the total paid is within half a cent of the
  exact total accrued (10% on 1,825 cents for one day is 0.5 cent: 1 cent is owed; the next
  day's 0.5 cent then leaves nothing owed).
- Catch-up size: ``x`` rounded up to the cent (the GP is never left short of its catch-up by a
  fraction of a cent). The GP's part of it: ``c * tier`` rounded half up, never above the tier.
- GP share of the split: ``k * R`` rounded half up. The LPs get exactly the rest.
- Consequently ``sum(tiers) == amount == sum(allocations) + carried_interest`` exactly. A
  distribution paid as two on the same day (the second told of the first as a prior) matches one
  paid at once exactly in capital and pref; the catch-up, split and carry totals may move by the
  GP's rounding cents, at most ``2 + ceil(1 / (c - k))`` cents (2 without a catch-up).

Pro-rata distributions
----------------------
``pro_rata_distribution`` shares ``amount`` by contributed capital up to ``on``, with no GP share.
It is not told what was returned before, so it cannot honestly call any of the amount return
of capital or pref: its tiers report the whole amount as ``split_lp`` (the LPs' side of a split
with no carry) and every other tier as 0; ``carried_interest`` is 0.

Allocations hold every investor with a contribution dated on or before ``on`` (0 where nothing
is due), keyed and ordered by investor id. Investors who had not contributed by ``on`` are absent.

Refused: rates outside [0, 1], a catch-up rate that is neither 0 nor above the carry rate, and a
positive amount when nobody had contributed by ``on`` (``ValueError``); negative cents
(``ValueError``); floats for rates or cents, and ``datetime`` for dates (``TypeError``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext
from fractions import Fraction
from typing import Literal

from cornerstone.kit.money import allocate, round_half_up

__all__ = [
    "TIERS",
    "Contribution",
    "DistributionResult",
    "PriorDistribution",
    "WaterfallTerms",
    "pro_rata_distribution",
    "waterfall_distribution",
]

TIERS = ("return_of_capital", "preferred_return", "catch_up", "split_lp", "split_gp")
"""The keys of ``DistributionResult.tiers``, in waterfall order."""

_PRECISION = Context(prec=40, rounding=ROUND_HALF_EVEN)
_DAYS_PER_YEAR = Decimal(365)
_ZERO = Decimal(0)


@dataclass(frozen=True)
class WaterfallTerms:
    """A fund's distribution terms. ``catch_up_rate`` is 0 (no catch-up) or above ``carry_rate``:
    at or below it the GP could never catch up."""

    pref_rate: Decimal
    pref_compounding: Literal["annual", "simple"]
    catch_up_rate: Decimal
    carry_rate: Decimal

    def __post_init__(self) -> None:
        for name in ("pref_rate", "catch_up_rate", "carry_rate"):
            rate = getattr(self, name)
            if not isinstance(rate, Decimal):
                raise TypeError(f"{name} must be a Decimal, not {type(rate).__name__}")
            if not rate.is_finite() or not 0 <= rate <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if self.pref_compounding not in ("annual", "simple"):
            raise ValueError(f"pref_compounding must be 'annual' or 'simple', got {self.pref_compounding!r}")
        if self.catch_up_rate != 0 and self.catch_up_rate <= self.carry_rate:
            raise ValueError(
                f"catch_up_rate must be 0 or above carry_rate ({self.carry_rate}), got {self.catch_up_rate}"
            )


@dataclass(frozen=True)
class Contribution:
    """Capital paid in by one LP investor on one date."""

    investor_id: str
    on: date
    amount: int

    def __post_init__(self) -> None:
        if type(self.on) is date and type(self.amount) is int and self.amount >= 0:
            return  # the usual case, cheaply: a fund's history has one per investor and payment
        _require_date(self.on, "contribution date")
        _require_cents(self.amount, f"contribution of {self.investor_id!r}")


@dataclass(frozen=True)
class PriorDistribution:
    """A distribution already paid: cents per LP investor and to the GP, whatever tiers they came from."""

    on: date
    lp_amounts: Mapping[str, int]
    gp_amount: int

    def __post_init__(self) -> None:
        _require_date(self.on, "distribution date")
        # One pass over the (thousands of) plain ints first; the detailed check names the first offender.
        if not all(type(paid) is int and paid >= 0 for paid in self.lp_amounts.values()):
            for investor_id, paid in self.lp_amounts.items():
                _require_cents(paid, f"prior distribution to {investor_id!r}")
        _require_cents(self.gp_amount, "prior distribution to the GP")


@dataclass(frozen=True)
class DistributionResult:
    """How one distribution splits: by tier (keys ``TIERS``), by LP investor, and the GP's carry."""

    tiers: dict[str, int]
    allocations: dict[str, int]
    carried_interest: int


def waterfall_distribution(
    terms: WaterfallTerms,
    contributions: Sequence[Contribution],
    prior: Sequence[PriorDistribution],
    amount: int,
    on: date,
) -> DistributionResult:
    """Split ``amount`` cents distributed on ``on`` through the European waterfall (module docstring).

    Raises ``ValueError`` for a negative amount, or a positive one when nobody had contributed by ``on``.
    """
    _require_cents(amount, "amount")
    _require_date(on, "distribution date")
    with localcontext(_PRECISION):
        fund = _replay(terms, contributions, prior, on)
    investors = sorted(fund.contributed)
    contributed = {investor_id: fund.contributed[investor_id] for investor_id in investors}
    _require_capital(contributed, amount, on)

    unreturned = {investor_id: fund.unreturned[investor_id] for investor_id in investors}
    return_of_capital = min(amount, sum(unreturned.values()))
    capital_paid = _capped_split(return_of_capital, unreturned)
    left = amount - return_of_capital

    owed = {investor_id: _pref_owed(fund.pref[investor_id]) for investor_id in investors}
    preferred_return = min(left, sum(owed.values()))
    pref_paid = _capped_split(preferred_return, owed)
    left -= preferred_return

    catch_up, catch_up_gp = _catch_up(terms, left, fund.lp_profit + preferred_return, fund.gp_received)
    left -= catch_up
    split_gp = round_half_up(Fraction(terms.carry_rate) * left)
    split_lp = left - split_gp

    profit_paid = allocate(catch_up - catch_up_gp + split_lp, contributed)
    allocations = {
        investor_id: capital_paid[investor_id] + pref_paid[investor_id] + profit_paid[investor_id]
        for investor_id in contributed
    }
    tiers = dict(zip(TIERS, (return_of_capital, preferred_return, catch_up, split_lp, split_gp), strict=True))
    return DistributionResult(tiers=tiers, allocations=allocations, carried_interest=catch_up_gp + split_gp)


def pro_rata_distribution(contributions: Sequence[Contribution], amount: int, on: date) -> DistributionResult:
    """Share ``amount`` cents by capital contributed up to ``on``, with no carry.

    Reported as ``split_lp`` only (module docstring: without the fund's history, no part of it can be
    called return of capital or pref). Raises ``ValueError`` as ``waterfall_distribution`` does.
    """
    _require_cents(amount, "amount")
    _require_date(on, "distribution date")
    totals: dict[str, int] = {}
    for contribution in contributions:
        if contribution.on <= on:
            totals[contribution.investor_id] = totals.get(contribution.investor_id, 0) + contribution.amount
    contributed = {investor_id: totals[investor_id] for investor_id in sorted(totals)}
    _require_capital(contributed, amount, on)
    tiers = dict.fromkeys(TIERS, 0)
    tiers["split_lp"] = amount
    return DistributionResult(tiers=tiers, allocations=allocate(amount, contributed), carried_interest=0)


@dataclass
class _Fund:
    """The replayed state: per LP investor ``contributed`` C_i, ``unreturned`` K_i and ``pref`` P_i (cents),
    keyed alike (the investors with a contribution dated on or before the distribution date)."""

    contributed: dict[str, int] = field(default_factory=dict)
    unreturned: dict[str, int] = field(default_factory=dict)
    pref: dict[str, Decimal] = field(default_factory=dict)
    lp_profit: int = 0  # L before this distribution: pref paid and everything beyond capital and pref
    gp_received: int = 0  # G


def _pref_owed(pref: Decimal) -> int:
    """``max(0, round_half_up(pref))``: for a positive value, rounding half away from zero is rounding half up."""
    return int(pref.to_integral_value(rounding=ROUND_HALF_UP)) if pref > 0 else 0


class _PrefAccrual:
    """Pref accrued on ``unreturned`` and ``pref`` over ``days``; the annual growth factor is computed once per
    day count."""

    def __init__(self, terms: WaterfallTerms) -> None:
        self._rate = terms.pref_rate
        self._annual = terms.pref_compounding == "annual"
        self._growth: dict[int, Decimal] = {}

    def accrued(self, unreturned: int, pref: Decimal, days: int) -> Decimal:
        if days <= 0 or self._rate == 0:
            return pref
        if self._annual:
            growth = self._growth.get(days)
            if growth is None:
                growth = self._growth[days] = (1 + self._rate) ** (Decimal(days) / _DAYS_PER_YEAR) - 1
            return pref + (unreturned + pref) * growth
        return pref + unreturned * self._rate * days / _DAYS_PER_YEAR


def _replay(
    terms: WaterfallTerms,
    contributions: Sequence[Contribution],
    prior: Sequence[PriorDistribution],
    on: date,
) -> _Fund:
    """Every investor's K, P and C, and the fund's L and G, accrued to ``on`` (call in the local decimal context).

    Investors are independent of each other (L and G are sums), so each one's history is replayed on its own,
    in date order, contributions before distributions on the same date, each kind in the order given; its state
    stays in local variables meanwhile (a fund has thousands of investors, and every prior distribution paid
    each of them).
    """
    fund = _Fund()
    accrual = _PrefAccrual(terms)
    paid_in: dict[str, list[tuple[date, int]]] = {}
    for contribution in contributions:
        if contribution.on <= on:
            paid_in.setdefault(contribution.investor_id, []).append((contribution.on, contribution.amount))
    paid_out: dict[str, list[tuple[date, int]]] = {}
    for distribution in sorted((p for p in prior if p.on <= on), key=_on):  # stable: the given order on a date
        fund.gp_received += distribution.gp_amount
        day = distribution.on
        for investor_id, paid in distribution.lp_amounts.items():
            payments = paid_out.get(investor_id)
            if payments is None:
                paid_out[investor_id] = [(day, paid)]
            else:
                payments.append((day, paid))

    accrued = accrual.accrued
    lp_profit = 0
    for investor_id, flows in paid_in.items():
        if len(flows) > 1:
            flows.sort(key=_first)  # stable: the given order on a date
        count, next_flow = len(flows), 0
        contributed = unreturned = 0
        pref = _ZERO
        accrued_to: date | None = None
        for day, paid in paid_out.pop(investor_id, ()):
            while next_flow < count and flows[next_flow][0] <= day:  # contributions first on the same date
                flow_day, amount = flows[next_flow]
                next_flow += 1
                if accrued_to is not None:
                    pref = accrued(unreturned, pref, (flow_day - accrued_to).days)
                accrued_to = flow_day
                unreturned += amount
                contributed += amount
            if accrued_to is None:  # paid before its first contribution: all LP profit
                lp_profit += paid
                continue
            pref = accrued(unreturned, pref, (day - accrued_to).days)
            accrued_to = day
            if paid <= unreturned:  # all of it returns capital
                unreturned -= paid
                continue
            beyond_capital = paid - unreturned
            unreturned = 0
            pref -= min(beyond_capital, _pref_owed(pref))
            lp_profit += beyond_capital
        for flow_day, amount in flows[next_flow:]:
            if accrued_to is not None:
                pref = accrued(unreturned, pref, (flow_day - accrued_to).days)
            accrued_to = flow_day
            unreturned += amount
            contributed += amount
        assert accrued_to is not None  # every investor here has a contribution
        fund.contributed[investor_id] = contributed
        fund.unreturned[investor_id] = unreturned
        fund.pref[investor_id] = accrued(unreturned, pref, (on - accrued_to).days)
    fund.lp_profit += lp_profit
    # What was paid to investors with no contribution by ``on`` is all LP profit.
    fund.lp_profit += sum(paid for payments in paid_out.values() for _, paid in payments)
    return fund


def _on(distribution: PriorDistribution) -> date:
    return distribution.on


def _first(flow: tuple[date, int]) -> date:
    return flow[0]


def _capped_split(total: int, due: dict[str, int]) -> dict[str, int]:
    """``allocate(total, due, caps=due)``: a tier shared by what each investor is due, capped at it. When the
    tier pays everything due (``total == sum(due)``), that is exactly ``due`` itself, without the arithmetic."""
    if total == sum(due.values()):
        return dict(due)
    return allocate(total, due, caps=due)


def _catch_up(terms: WaterfallTerms, available: int, lp_profit: int, gp_received: int) -> tuple[int, int]:
    """The catch-up tier and the GP's part of it, in cents."""
    catch_up_rate, carry_rate = Fraction(terms.catch_up_rate), Fraction(terms.carry_rate)
    if catch_up_rate == 0 or available == 0:
        return 0, 0
    needed = (carry_rate * (lp_profit + gp_received) - gp_received) / (catch_up_rate - carry_rate)
    if needed <= 0:
        return 0, 0
    tier = min(available, math.ceil(needed))
    return tier, min(tier, round_half_up(catch_up_rate * tier))


def _require_capital(contributed: Mapping[str, int], amount: int, on: date) -> None:
    if amount > 0 and not any(contributed.values()):
        raise ValueError(f"cannot distribute {amount} on {on.isoformat()}: no capital had been contributed by then")


def _require_cents(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int of cents, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")


def _require_date(value: object, what: str) -> None:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{what} must be a date, not {type(value).__name__}")

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
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
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
    accounts = fund.accounts
    contributed = {investor_id: accounts[investor_id].contributed for investor_id in sorted(accounts)}
    _require_capital(contributed, amount, on)

    unreturned = {investor_id: accounts[investor_id].unreturned for investor_id in contributed}
    return_of_capital = min(amount, sum(unreturned.values()))
    capital_paid = allocate(return_of_capital, unreturned, caps=unreturned)
    left = amount - return_of_capital

    owed = {investor_id: max(0, round_half_up(accounts[investor_id].pref)) for investor_id in contributed}
    preferred_return = min(left, sum(owed.values()))
    pref_paid = allocate(preferred_return, owed, caps=owed)
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
class _Account:
    """One LP investor's replayed state: ``contributed`` C_i, ``unreturned`` K_i, ``pref`` P_i (cents)."""

    contributed: int = 0
    unreturned: int = 0
    pref: Decimal = _ZERO
    accrued_to: date | None = None


@dataclass
class _Fund:
    accounts: dict[str, _Account] = field(default_factory=dict)
    lp_profit: int = 0  # L before this distribution: pref paid and everything beyond capital and pref
    gp_received: int = 0  # G


class _PrefAccrual:
    """Accrues an account's pref up to a date; the annual growth factor is computed once per day count."""

    def __init__(self, terms: WaterfallTerms) -> None:
        self._rate = terms.pref_rate
        self._annual = terms.pref_compounding == "annual"
        self._growth: dict[int, Decimal] = {}

    def accrue(self, account: _Account, to: date) -> None:
        since, account.accrued_to = account.accrued_to, to
        if since is None:
            return
        days = (to - since).days
        if days <= 0 or self._rate == 0:
            return
        if self._annual:
            account.pref += (account.unreturned + account.pref) * self._growth_over(days)
        else:
            account.pref += account.unreturned * self._rate * days / _DAYS_PER_YEAR

    def _growth_over(self, days: int) -> Decimal:
        growth = self._growth.get(days)
        if growth is None:
            growth = (1 + self._rate) ** (Decimal(days) / _DAYS_PER_YEAR) - 1
            self._growth[days] = growth
        return growth


def _replay(
    terms: WaterfallTerms,
    contributions: Sequence[Contribution],
    prior: Sequence[PriorDistribution],
    on: date,
) -> _Fund:
    """Every investor's K, P and C, and the fund's L and G, accrued to ``on`` (call in the local decimal context)."""
    fund = _Fund()
    accrual = _PrefAccrual(terms)
    events: list[tuple[date, int, int]] = [
        (contribution.on, 0, index) for index, contribution in enumerate(contributions) if contribution.on <= on
    ]
    events += [(distribution.on, 1, index) for index, distribution in enumerate(prior) if distribution.on <= on]
    events.sort()
    for day, kind, index in events:
        if kind == 0:
            contribution = contributions[index]
            account = fund.accounts.setdefault(contribution.investor_id, _Account())
            accrual.accrue(account, day)
            account.unreturned += contribution.amount
            account.contributed += contribution.amount
            continue
        distribution = prior[index]
        fund.gp_received += distribution.gp_amount
        for investor_id, paid in distribution.lp_amounts.items():
            existing = fund.accounts.get(investor_id)
            if existing is None:
                fund.lp_profit += paid
                continue
            accrual.accrue(existing, day)
            to_capital = min(paid, existing.unreturned)
            existing.unreturned -= to_capital
            beyond_capital = paid - to_capital
            existing.pref -= min(beyond_capital, max(0, round_half_up(existing.pref)))
            fund.lp_profit += beyond_capital
    for account in fund.accounts.values():
        accrual.accrue(account, on)
    return fund


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

"""Exact money arithmetic on integer minor units (cents): pro-rata allocation and rounding.

Money is always an ``int`` of minor units; rates and ratios are ``Decimal``; every
intermediate share is an exact rational (integer numerator over a common integer
denominator), never a float. The rules, each tested to the cent:

Allocation (``allocate``), the largest-remainder method:

1. Each key's exact share is ``total * weight / sum(weights)``. ``Decimal`` weights are
   converted exactly (``Fraction(Decimal)``) and scaled to integers over their common
   denominator, so the shares are exact rationals.
2. Every key first receives the floor of its exact share.
3. The cents left over (fewer than the number of keys with a fractional share) go one
   each, in this order: larger fractional remainder first, then larger weight, then
   key ascending (plain ``str`` order). A key with a whole-number share never receives
   an extra cent, so no result is ever more than one cent from its exact share.
4. The sum of the results is exactly ``total``. The result holds every key of
   ``weights``, with 0 where nothing is due (zero weight). The values depend only on
   the keys, weights and caps, never on the mappings' insertion order.

Caps (``never past an investor's unfunded commitment``), by water-filling:

- Every key's exact share is ``min(cap, level * weight)`` for the one ``level`` at
  which the shares sum to ``total``: a key whose pro-rata share would exceed its cap is
  fixed at its cap and the rest is re-spread pro rata by weight over the others,
  repeatedly. Keys absent from ``caps`` are uncapped.
- Capped keys receive exactly their (integer) cap; the remaining total is split over
  the uncapped-at-the-end keys by steps 1–3 above. Since a key's exact share is at most
  its integer cap, floor-plus-one-cent never passes the cap.
- If the capacity of the keys that can receive money (positive weight) is less than
  ``total``, ``AllocationError`` is raised. A zero-weight key receives nothing, even if
  it has room under its cap.

``round_half_up`` rounds an exact value to the nearest integer with halves going up
(towards +infinity): 2.5 → 3, 2.49 → 2, −2.5 → −2. Callers use it for "a rate times an
amount of cents" (for instance a carry share) where one result, not a split, is needed.

Money dates (``MoneyDateWindow``): the day a payment was received, a call is due, a distribution or a
NAV mark is dated must fall in a window, ``CORNERSTONE_MONEY_DATE_MIN`` (default 1970-01-01) to
``CORNERSTONE_MONEY_DATE_MAX_DAYS_AHEAD`` days (default 365) after today (UTC): a year 1900 or 9999 is
a typo that would skew every IRR, not a date money moved on. Both services read the window from the
environment; the kernel, the authority, sets it from its own settings when its app is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "AllocationError",
    "MoneyDateSettings",
    "MoneyDateWindow",
    "allocate",
    "configure_money_date_window",
    "money_date_window",
    "round_half_up",
]

DEFAULT_MONEY_DATE_MIN = date(1970, 1, 1)
DEFAULT_MONEY_DATE_MAX_DAYS_AHEAD = 365


@dataclass(frozen=True, slots=True)
class MoneyDateWindow:
    """The dates money may be recorded on: from ``earliest`` to ``max_days_ahead`` days after today (UTC)."""

    earliest: date = DEFAULT_MONEY_DATE_MIN
    max_days_ahead: int = DEFAULT_MONEY_DATE_MAX_DAYS_AHEAD

    def latest(self, today: date | None = None) -> date:
        return (today or datetime.now(UTC).date()) + timedelta(days=self.max_days_ahead)


class MoneyDateSettings(BaseSettings):
    """The money-date window as settings (``CORNERSTONE_MONEY_DATE_*``); the kernel's settings include these."""

    model_config = SettingsConfigDict(env_prefix="CORNERSTONE_", extra="ignore")

    money_date_min: date = Field(
        default=DEFAULT_MONEY_DATE_MIN,
        description="Earliest date of a payment, due date, distribution or NAV mark (422 before it).",
    )
    money_date_max_days_ahead: int = Field(
        default=DEFAULT_MONEY_DATE_MAX_DAYS_AHEAD,
        ge=0,
        le=36_500,
        description="How many days after today (UTC) a payment, due date, distribution or NAV mark may be "
        "dated (422 beyond).",
    )

    def money_date_window(self) -> MoneyDateWindow:
        return MoneyDateWindow(earliest=self.money_date_min, max_days_ahead=self.money_date_max_days_ahead)


_window: MoneyDateWindow | None = None


def configure_money_date_window(window: MoneyDateWindow | None) -> None:
    """Set the process's money-date window (``None``: read it from the environment again on next use)."""
    global _window  # one window per process, set once at start-up
    _window = window


def money_date_window() -> MoneyDateWindow:
    """The process's money-date window: as configured, else from the environment (read once)."""
    global _window
    if _window is None:
        _window = MoneyDateSettings().money_date_window()
    return _window


class AllocationError(ValueError):
    """The total cannot be split under the constraints given: nothing to weigh by, or caps too small."""


def round_half_up(value: int | Fraction | Decimal) -> int:
    """The nearest integer to an exact value, halves rounded up (towards +infinity); never via float."""
    if isinstance(value, bool) or not isinstance(value, int | Fraction | Decimal):
        raise TypeError(f"round_half_up takes an int, Fraction or Decimal, not {type(value).__name__}")
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot round {value}")
        numerator, denominator = value.as_integer_ratio()
    else:
        numerator, denominator = value.numerator, value.denominator
    return (2 * numerator + denominator) // (2 * denominator)  # floor(n/d + 1/2), denominator > 0


def allocate(
    total: int,
    weights: Mapping[str, int | Decimal],
    caps: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Split ``total`` cents over the keys of ``weights`` pro rata, exactly, never past a key's cap.

    The rules (floors, largest remainder, tie-break, water-filling) are in the module docstring.
    Raises ``ValueError`` for a negative total, weight or cap (or a cap for a key that has no
    weight), ``TypeError`` for a float or other non-exact number, and ``AllocationError`` when
    there is money to split but no positive weight, or not enough room under the caps.
    """
    _require_minor_units(total, "total")
    scaled = _integer_weights(weights)
    cap_of = _checked_caps(caps, scaled)

    result = dict.fromkeys(scaled, 0)
    if total == 0:
        return result
    receiving = [key for key, weight in scaled.items() if weight > 0]
    if not receiving:
        raise AllocationError(f"cannot allocate {total}: every weight is zero")
    if cap_of and all(key in cap_of for key in receiving):
        capacity = sum(cap_of[key] for key in receiving)
        if capacity < total:
            raise AllocationError(
                f"cannot allocate {total}: the caps of the keys with a positive weight sum to only {capacity}"
            )

    remaining = total
    weight_left = sum(scaled[key] for key in receiving)
    open_keys = receiving
    if cap_of:
        # Water-filling in one pass: the keys that end at their cap are exactly those with the smallest
        # cap/weight ratios, so walk them in that order while the current level would pass the cap.
        # cap * scale // weight orders the ratios exactly: two different ratios a/b and c/d differ by at least
        # 1/(b*d) >= 1/scale, so their scaled values differ by at least 1 and their floors keep the order.
        scale = max(scaled[key] for key in receiving) ** 2
        at_cap: set[str] = set()
        for key in sorted((k for k in receiving if k in cap_of), key=lambda k: cap_of[k] * scale // scaled[k]):
            cap, weight = cap_of[key], scaled[key]
            if cap * weight_left >= remaining * weight:  # the share at the current level fits under the cap
                break
            result[key] = cap
            remaining -= cap
            weight_left -= weight
            at_cap.add(key)
        if at_cap:
            open_keys = [key for key in receiving if key not in at_cap]

    leftover = remaining
    order: list[tuple[int, int, str]] = []
    for key in open_keys:
        weight = scaled[key]
        floor, remainder = divmod(remaining * weight, weight_left)
        result[key] = floor
        leftover -= floor
        if remainder:
            order.append((-remainder, -weight, key))
    if leftover:
        order.sort()
        for _, _, key in order[:leftover]:
            result[key] += 1
    return result


def _require_minor_units(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int of minor units, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")


def _integer_weights(weights: Mapping[str, int | Decimal]) -> dict[str, int]:
    """The weights as integers with the same ratios: exact ``Decimal`` weights scaled by their common denominator."""
    exact: dict[str, int | Fraction] = {}
    for key, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int | Decimal):
            raise TypeError(f"weight of {key!r} must be an int or a Decimal, not {type(weight).__name__}")
        if isinstance(weight, Decimal):
            if not weight.is_finite():
                raise ValueError(f"weight of {key!r} must be finite, got {weight}")
            exact[key] = Fraction(weight)
        else:
            exact[key] = weight
        if exact[key] < 0:
            raise ValueError(f"weight of {key!r} must not be negative, got {weight}")
    denominators = [value.denominator for value in exact.values() if isinstance(value, Fraction)]
    scale = math.lcm(*denominators) if denominators else 1
    return {key: int(value * scale) for key, value in exact.items()}


def _checked_caps(caps: Mapping[str, int] | None, weights: Mapping[str, int]) -> dict[str, int]:
    if caps is None:
        return {}
    for key, cap in caps.items():
        if key not in weights:
            raise ValueError(f"cap given for {key!r}, which has no weight")
        _require_minor_units(cap, f"cap of {key!r}")
    return dict(caps)

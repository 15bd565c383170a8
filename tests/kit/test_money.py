"""Largest-remainder allocation and half-up rounding, to the cent."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cornerstone.kit.money import AllocationError, allocate, round_half_up

FAST = settings(max_examples=200, deadline=None)

keys = st.text(alphabet="abcdefgh", min_size=1, max_size=3)
int_weights = st.dictionaries(keys, st.integers(min_value=0, max_value=10**9), min_size=1, max_size=12)
totals = st.integers(min_value=0, max_value=10**12)


def exact_water_filling(total: int, weights: dict[str, int], caps: dict[str, int]) -> dict[str, Fraction]:
    """The exact capped shares, by the textbook loop: fix every key over its cap, re-spread, repeat."""
    shares = dict.fromkeys(weights, Fraction(0))
    open_keys = {key for key, weight in weights.items() if weight > 0}
    remaining = Fraction(total)
    while open_keys:
        weight_left = sum(weights[key] for key in open_keys)
        over = {key for key in open_keys if key in caps and remaining * weights[key] / weight_left > caps[key]}
        if not over:
            for key in open_keys:
                shares[key] = remaining * weights[key] / weight_left
            break
        for key in over:
            shares[key] = Fraction(caps[key])
            remaining -= caps[key]
        open_keys -= over
    return shares


# --- hand examples ---------------------------------------------------------------------------------------------


def test_equal_weights_leave_the_odd_cent_to_the_first_key_in_string_order() -> None:
    """100 / 3 = 33.33 each: floors 33+33+33 = 99, the 1 cent left ties on remainder (1/3) and weight, so the key
    order decides: "a" gets 34. Insertion order (c, b, a) does not matter."""
    assert allocate(100, {"c": 1, "b": 1, "a": 1}) == {"a": 34, "b": 33, "c": 33}


def test_one_two_three_gives_the_leftover_cent_to_the_largest_remainder() -> None:
    """1,000,000 over 1:2:3: exact 166,666.67 / 333,333.33 / 500,000 -> floors 166,666 + 333,333 + 500,000 =
    999,999; remainders 4/6, 2/6, 0: the one cent left goes to "a" (largest remainder)."""
    assert allocate(1_000_000, {"a": 1, "b": 2, "c": 3}) == {"a": 166_667, "b": 333_333, "c": 500_000}


def test_equal_remainders_are_broken_by_the_larger_weight() -> None:
    """2 over a:1, b:3: exact 0.5 and 1.5 -> floors 0 + 1; both remainders 1/2, so the larger weight (b) wins."""
    assert allocate(2, {"a": 1, "b": 3}) == {"a": 0, "b": 2}


def test_decimal_weights_are_exact() -> None:
    """101 over 0.5 : 0.25 : 0.25 -> exact 50.5 / 25.25 / 25.25, floors 50 + 25 + 25 = 100, the cent goes to a
    (remainder 0.5)."""
    weights = {"a": Decimal("0.5"), "b": Decimal("0.25"), "c": Decimal("0.25")}
    assert allocate(101, weights) == {"a": 51, "b": 25, "c": 25}


def test_mixed_int_and_decimal_weights() -> None:
    """10 over 1 : 1.5 -> exact 4 / 6."""
    assert allocate(10, {"a": 1, "b": Decimal("1.5")}) == {"a": 4, "b": 6}


def test_zero_weight_keys_are_kept_with_nothing() -> None:
    assert allocate(7, {"a": 0, "b": 5}) == {"a": 0, "b": 7}


def test_zero_total_gives_zeros_even_with_zero_weights() -> None:
    assert allocate(0, {"a": 0, "b": 0}) == {"a": 0, "b": 0}
    assert allocate(0, {}) == {}


def test_a_binding_cap_spreads_the_excess_over_the_others() -> None:
    """100 over three equal weights, a capped at 10: a = 10, and 90 over b, c = 45 each."""
    assert allocate(100, {"a": 1, "b": 1, "c": 1}, caps={"a": 10}) == {"a": 10, "b": 45, "c": 45}


def test_caps_bind_in_cascade() -> None:
    """100 over four equal weights, caps a 5, b 20. Level 25: a is over its cap -> a = 5; 95 over three = 31.67:
    b is over -> b = 20; 75 over c, d = 37.5 each -> floors 37 + 37, the cent ties on remainder and weight: c."""
    result = allocate(100, {"a": 1, "b": 1, "c": 1, "d": 1}, caps={"a": 5, "b": 20})
    assert result == {"a": 5, "b": 20, "c": 38, "d": 37}


def test_a_cap_that_does_not_bind_changes_nothing() -> None:
    assert allocate(100, {"a": 1, "b": 1, "c": 1}, caps={"a": 34, "b": 40, "c": 40}) == {"a": 34, "b": 33, "c": 33}


def test_caps_exactly_equal_to_the_total_fill_every_cap() -> None:
    assert allocate(60, {"a": 1, "b": 5, "c": 1}, caps={"a": 30, "b": 10, "c": 20}) == {"a": 30, "b": 10, "c": 20}


def test_a_zero_cap_takes_nothing() -> None:
    assert allocate(9, {"a": 1, "b": 2}, caps={"a": 0}) == {"a": 0, "b": 9}


def test_caps_too_small_refuse() -> None:
    with pytest.raises(AllocationError, match="sum to only 30"):
        allocate(31, {"a": 1, "b": 1}, caps={"a": 10, "b": 20})


def test_room_under_a_zero_weight_key_does_not_count() -> None:
    with pytest.raises(AllocationError, match="sum to only 10"):
        allocate(11, {"a": 1, "b": 0}, caps={"a": 10, "b": 100})


def test_all_zero_weights_with_money_to_split_refuse() -> None:
    with pytest.raises(AllocationError, match="every weight is zero"):
        allocate(1, {"a": 0, "b": 0})
    with pytest.raises(AllocationError):
        allocate(1, {})


def test_allocation_error_is_a_value_error() -> None:
    assert issubclass(AllocationError, ValueError)


@pytest.mark.parametrize(
    ("total", "weights", "caps"),
    [
        (-1, {"a": 1}, None),
        (1, {"a": -1, "b": 2}, None),
        (1, {"a": Decimal("-0.1"), "b": 2}, None),
        (1, {"a": 1}, {"a": -1}),
        (1, {"a": 1}, {"b": 1}),
        (1, {"a": Decimal("NaN")}, None),
    ],
)
def test_negative_or_unknown_inputs_are_value_errors(
    total: int, weights: dict[str, int | Decimal], caps: dict[str, int] | None
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        allocate(total, weights, caps)


@pytest.mark.parametrize(
    ("total", "weights"),
    [(1.0, {"a": 1}), (1, {"a": 0.5}), (True, {"a": 1}), (1, {"a": "1"})],
)
def test_floats_and_other_inexact_numbers_are_type_errors(total: object, weights: object) -> None:
    with pytest.raises(TypeError):
        allocate(total, weights)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(5, 2), 3),
        (Fraction(249, 100), 2),
        (Fraction(-5, 2), -2),
        (Decimal("2133333.6"), 2133334),
        (Decimal("0.5"), 1),
        (Decimal("0.4999999999"), 0),
        (7, 7),
    ],
)
def test_round_half_up(value: int | Fraction | Decimal, expected: int) -> None:
    assert round_half_up(value) == expected


def test_round_half_up_refuses_floats_and_infinities() -> None:
    with pytest.raises(TypeError):
        round_half_up(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot round"):
        round_half_up(Decimal("Infinity"))


# --- properties ------------------------------------------------------------------------------------------------


@FAST
@given(totals, int_weights)
def test_the_sum_is_exact_and_every_share_is_within_a_cent(total: int, weights: dict[str, int]) -> None:
    weight_sum = sum(weights.values())
    if weight_sum == 0 and total > 0:
        with pytest.raises(AllocationError):
            allocate(total, weights)
        return
    result = allocate(total, weights)
    assert result.keys() == weights.keys()
    assert sum(result.values()) == total
    for key, share in result.items():
        exact = Fraction(total * weights[key], weight_sum) if weight_sum else Fraction(0)
        assert share >= 0
        assert abs(share - exact) < 1
        assert share in (exact.__floor__(), exact.__ceil__())


@FAST
@given(st.data())
def test_caps_are_never_passed_and_shares_follow_exact_water_filling(data: st.DataObject) -> None:
    weights = data.draw(int_weights)
    caps = {key: data.draw(st.integers(min_value=0, max_value=10**6)) for key in weights if data.draw(st.booleans())}
    total = data.draw(st.integers(min_value=0, max_value=2 * 10**6))
    capacity = sum(caps.get(key, total) for key, weight in weights.items() if weight > 0)
    if total > 0 and capacity < total:
        with pytest.raises(AllocationError):
            allocate(total, weights, caps)
        return
    result = allocate(total, weights, caps)
    assert sum(result.values()) == total
    exact = exact_water_filling(total, weights, caps)
    for key, share in result.items():
        assert share <= caps.get(key, total)
        assert abs(share - exact[key]) < 1


@FAST
@given(totals, int_weights, st.randoms(use_true_random=False))
def test_results_do_not_depend_on_insertion_order(total: int, weights: dict[str, int], rng: random.Random) -> None:
    if sum(weights.values()) == 0:
        weights = {**weights, "z": 1}
    caps = dict.fromkeys(list(weights)[::2], total // 2 + 1)
    items = list(weights.items())
    rng.shuffle(items)
    shuffled_caps = dict(reversed(list(caps.items())))
    try:
        expected = allocate(total, weights, caps)
    except AllocationError:
        with pytest.raises(AllocationError):
            allocate(total, dict(items), shuffled_caps)
        return
    assert allocate(total, dict(items), shuffled_caps) == expected
    assert allocate(total, weights, caps) == expected


@FAST
@given(totals, int_weights, st.randoms(use_true_random=False))
def test_renaming_keys_moves_results_with_them_up_to_ties(
    total: int, weights: dict[str, int], rng: random.Random
) -> None:
    """Renaming keys only changes which of several keys with the same weight (hence the same exact share) gets a
    tie-break cent, so the multiset of (weight, share) pairs is unchanged; an order-preserving renaming (a prefix)
    changes nothing at all."""
    if sum(weights.values()) == 0:
        weights = {**weights, "z": 1}
    names = list(weights)
    targets = names[:]
    rng.shuffle(targets)
    renamed = {target: weights[name] for name, target in zip(names, targets, strict=True)}
    result, renamed_result = allocate(total, weights), allocate(total, renamed)
    assert sorted((weights[key], share) for key, share in result.items()) == sorted(
        (renamed[key], share) for key, share in renamed_result.items()
    )
    prefixed = allocate(total, {f"x-{key}": weight for key, weight in weights.items()})
    assert prefixed == {f"x-{key}": share for key, share in result.items()}


@FAST
@given(totals, st.dictionaries(keys, st.decimals(min_value=0, max_value=10**6, places=6), min_size=1, max_size=8))
def test_decimal_weights_split_as_their_exact_values(total: int, weights: dict[str, Decimal]) -> None:
    weight_sum = sum(Fraction(weight) for weight in weights.values())
    if weight_sum == 0:
        return
    result = allocate(total, weights)
    assert sum(result.values()) == total
    for key, share in result.items():
        assert abs(share - total * Fraction(weights[key]) / weight_sum) < 1

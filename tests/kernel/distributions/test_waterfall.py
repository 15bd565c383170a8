"""The European waterfall and pro-rata distributions, to the cent.

Amounts are cents: 100_000_000 is $1,000,000.00. Unless a test says otherwise the terms are the typical ones:
8% pref, 100% catch-up, 20% carry. 2023-01-01 -> 2024-01-01 is 365 days, one Act/365 year exactly.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cornerstone.kernel.distributions.waterfall import (
    TIERS,
    Contribution,
    DistributionResult,
    PriorDistribution,
    WaterfallTerms,
    _pref_owed,
    pro_rata_distribution,
    waterfall_distribution,
)
from cornerstone.kit.money import round_half_up

FAST = settings(max_examples=200, deadline=None)


def terms(
    compounding: Literal["annual", "simple"] = "simple",
    catch_up: str = "1",
    carry: str = "0.20",
    pref: str = "0.08",
) -> WaterfallTerms:
    return WaterfallTerms(
        pref_rate=Decimal(pref),
        pref_compounding=compounding,
        catch_up_rate=Decimal(catch_up),
        carry_rate=Decimal(carry),
    )


TYPICAL = terms()
ONE_LP = [Contribution("lp-a", date(2023, 1, 1), 100_000_000)]
YEAR_END = date(2024, 1, 1)


def tiers(
    return_of_capital: int = 0, preferred_return: int = 0, catch_up: int = 0, split_lp: int = 0, split_gp: int = 0
) -> dict[str, int]:
    return {
        "return_of_capital": return_of_capital,
        "preferred_return": preferred_return,
        "catch_up": catch_up,
        "split_lp": split_lp,
        "split_gp": split_gp,
    }


def as_prior(result: DistributionResult, on: date) -> PriorDistribution:
    return PriorDistribution(on=on, lp_amounts=result.allocations, gp_amount=result.carried_interest)


# --- one LP, one year: where the distribution ends ----------------------------------------------------------------


def test_a_distribution_below_contributed_capital_is_all_return_of_capital() -> None:
    """Contributed 100,000,000; distributing 50,000,000 -> all of it returns capital, no carry."""
    result = waterfall_distribution(TYPICAL, ONE_LP, [], 50_000_000, YEAR_END)
    assert result == DistributionResult(tiers(return_of_capital=50_000_000), {"lp-a": 50_000_000}, 0)


def test_a_distribution_ending_inside_the_pref_tier() -> None:
    """Pref owed after one year: 100,000,000 * 0.08 * 365/365 = 8,000,000. Distributing 104,000,000:
    capital 100,000,000, then 4,000,000 of the 8,000,000 pref; nothing reaches the GP."""
    result = waterfall_distribution(TYPICAL, ONE_LP, [], 104_000_000, YEAR_END)
    assert result == DistributionResult(
        tiers(return_of_capital=100_000_000, preferred_return=4_000_000), {"lp-a": 104_000_000}, 0
    )


def test_a_distribution_ending_inside_the_catch_up() -> None:
    """Pref 8,000,000. Full catch-up x = (0.2 * (8,000,000 + 0) - 0) / (1 - 0.2) = 2,000,000. Distributing
    109,000,000 leaves 1,000,000 after capital and pref: all of it catch-up, all of it to the GP (rate 100%)."""
    result = waterfall_distribution(TYPICAL, ONE_LP, [], 109_000_000, YEAR_END)
    assert result == DistributionResult(
        tiers(return_of_capital=100_000_000, preferred_return=8_000_000, catch_up=1_000_000),
        {"lp-a": 108_000_000},
        1_000_000,
    )


def test_a_distribution_deep_in_the_split() -> None:
    """150,000,000: capital 100,000,000, pref 8,000,000, catch-up 2,000,000 (as above), rest R = 40,000,000:
    GP 0.2 * R = 8,000,000, LP 32,000,000. Carry 2,000,000 + 8,000,000 = 10,000,000 = 20% of the 50,000,000
    profit."""
    result = waterfall_distribution(TYPICAL, ONE_LP, [], 150_000_000, YEAR_END)
    assert result == DistributionResult(
        tiers(
            return_of_capital=100_000_000,
            preferred_return=8_000_000,
            catch_up=2_000_000,
            split_lp=32_000_000,
            split_gp=8_000_000,
        ),
        {"lp-a": 140_000_000},
        10_000_000,
    )


def test_an_eighty_percent_catch_up_rounds_the_gp_up_a_cent() -> None:
    """Catch-up rate 0.8. x = 0.2 * 8,000,000 / (0.8 - 0.2) = 2,666,666.67 -> rounded up: 2,666,667. GP part
    0.8 * 2,666,667 = 2,133,333.6 -> half up 2,133,334; LP part 533,333. Rest R = 150,000,000 - 100,000,000
    - 8,000,000 - 2,666,667 = 39,333,333; split GP 0.2 * R = 7,866,666.6 -> 7,866,667; split LP 31,466,666.
    Carry 2,133,334 + 7,866,667 = 10,000,001: one cent over the exact 20% of profit, from the two roundings.
    LP: 108,000,000 + 533,333 + 31,466,666 = 139,999,999."""
    result = waterfall_distribution(terms(catch_up="0.8"), ONE_LP, [], 150_000_000, YEAR_END)
    assert result == DistributionResult(
        tiers(
            return_of_capital=100_000_000,
            preferred_return=8_000_000,
            catch_up=2_666_667,
            split_lp=31_466_666,
            split_gp=7_866_667,
        ),
        {"lp-a": 139_999_999},
        10_000_001,
    )


def test_an_eighty_percent_catch_up_ending_inside_the_catch_up_shares_it_with_the_lps() -> None:
    """Catch-up 0.8; 110,000,000 leaves 2,000,000 after capital and pref (< 2,666,667 needed): tier 2,000,000,
    GP 0.8 * 2,000,000 = 1,600,000, LP 400,000."""
    result = waterfall_distribution(terms(catch_up="0.8"), ONE_LP, [], 110_000_000, YEAR_END)
    assert result.tiers == tiers(return_of_capital=100_000_000, preferred_return=8_000_000, catch_up=2_000_000)
    assert result.allocations == {"lp-a": 108_400_000}
    assert result.carried_interest == 1_600_000


def test_without_a_catch_up_the_profit_after_pref_is_split() -> None:
    """Catch-up rate 0: after capital and pref, R = 42,000,000: GP 8,400,000, LP 33,600,000."""
    result = waterfall_distribution(terms(catch_up="0"), ONE_LP, [], 150_000_000, YEAR_END)
    assert result.tiers == tiers(
        return_of_capital=100_000_000, preferred_return=8_000_000, split_lp=33_600_000, split_gp=8_400_000
    )
    assert result.carried_interest == 8_400_000


def test_a_zero_distribution_is_all_zeros() -> None:
    assert waterfall_distribution(TYPICAL, ONE_LP, [], 0, YEAR_END) == DistributionResult(tiers(), {"lp-a": 0}, 0)


# --- several LPs -------------------------------------------------------------------------------------------------


def test_two_lps_with_unequal_contributions_on_different_dates() -> None:
    """A: 60,000,000 on 2023-01-01 (365 days); B: 20,000,000 on 2023-10-03 (90 days to 2024-01-01).
    Pref A = 60,000,000 * 0.08 = 4,800,000; B = 20,000,000 * 0.08 * 90/365 = 394,520.55 -> half up 394,521.
    Distributing 100,000,000: capital 80,000,000 (60M / 20M); pref 5,194,521; catch-up
    x = 0.2 * 5,194,521 / 0.8 = 1,298,630.25 -> up 1,298,631, all GP; rest R = 100,000,000 - 80,000,000
    - 5,194,521 - 1,298,631 = 13,506,848: GP 0.2 * R = 2,701,369.6 -> 2,701,370; LP 10,805,478, shared by
    contributed capital 3:1 -> 8,104,108.5 / 2,701,369.5: floors leave one cent, the remainders tie (0.5), the
    larger weight (A) takes it -> 8,104,109 / 2,701,369.
    A = 60,000,000 + 4,800,000 + 8,104,109 = 72,904,109; B = 20,000,000 + 394,521 + 2,701,369 = 23,095,890;
    carry 1,298,631 + 2,701,370 = 4,000,001; total 100,000,000."""
    contributions = [
        Contribution("lp-b", date(2023, 10, 3), 20_000_000),
        Contribution("lp-a", date(2023, 1, 1), 60_000_000),
    ]
    result = waterfall_distribution(TYPICAL, contributions, [], 100_000_000, YEAR_END)
    assert result == DistributionResult(
        tiers(
            return_of_capital=80_000_000,
            preferred_return=5_194_521,
            catch_up=1_298_631,
            split_lp=10_805_478,
            split_gp=2_701_370,
        ),
        {"lp-a": 72_904_109, "lp-b": 23_095_890},
        4_000_001,
    )
    assert list(result.allocations) == ["lp-a", "lp-b"]


def test_partial_return_of_capital_is_shared_by_unreturned_capital() -> None:
    """A 60,000,000, B 20,000,000: 40,000,000 returns 30,000,000 / 10,000,000."""
    contributions = [
        Contribution("lp-a", date(2023, 1, 1), 60_000_000),
        Contribution("lp-b", date(2023, 1, 1), 20_000_000),
    ]
    result = waterfall_distribution(TYPICAL, contributions, [], 40_000_000, YEAR_END)
    assert result.allocations == {"lp-a": 30_000_000, "lp-b": 10_000_000}
    assert result.tiers == tiers(return_of_capital=40_000_000)


def test_a_partial_pref_tier_is_shared_by_pref_owed() -> None:
    """Same two LPs as the unequal-dates test: pref owed A 4,800,000, B 394,521. Distributing 81,000,000 leaves
    1,000,000 for pref: A 1,000,000 * 4,800,000 / 5,194,521 = 924,050.55, B 1,000,000 * 394,521 / 5,194,521
    = 75,949.45 -> floors 924,050 + 75,949 = 999,999, the cent to A (remainder .55 > .45)."""
    contributions = [
        Contribution("lp-a", date(2023, 1, 1), 60_000_000),
        Contribution("lp-b", date(2023, 10, 3), 20_000_000),
    ]
    result = waterfall_distribution(TYPICAL, contributions, [], 81_000_000, YEAR_END)
    assert result.tiers == tiers(return_of_capital=80_000_000, preferred_return=1_000_000)
    assert result.allocations == {"lp-a": 60_924_051, "lp-b": 20_075_949}


# --- pref accrual ------------------------------------------------------------------------------------------------


def test_annual_compounding_beats_simple_after_two_years() -> None:
    """100,000,000 on 2021-01-01, distribution on 2023-01-01 (730 days = 2 years).
    Simple pref 100,000,000 * 0.08 * 2 = 16,000,000; annual 100,000,000 * (1.08^2 - 1) = 16,640,000.
    Distributing 200,000,000. Simple: catch-up 0.2 * 16,000,000 / 0.8 = 4,000,000, R = 80,000,000 -> GP
    16,000,000, LP 64,000,000. Annual: catch-up 0.2 * 16,640,000 / 0.8 = 4,160,000, R = 200,000,000 - 100,000,000
    - 16,640,000 - 4,160,000 = 79,200,000 -> GP 15,840,000, LP 63,360,000. Carry is 20,000,000 either way
    (20% of 100,000,000 profit); only the LP's pref/split mix differs."""
    contributions = [Contribution("lp-a", date(2021, 1, 1), 100_000_000)]
    simple = waterfall_distribution(terms("simple"), contributions, [], 200_000_000, date(2023, 1, 1))
    annual = waterfall_distribution(terms("annual"), contributions, [], 200_000_000, date(2023, 1, 1))
    assert simple.tiers == tiers(100_000_000, 16_000_000, 4_000_000, 64_000_000, 16_000_000)
    assert annual.tiers == tiers(100_000_000, 16_640_000, 4_160_000, 63_360_000, 15_840_000)
    assert annual.tiers["preferred_return"] > simple.tiers["preferred_return"]
    assert simple.carried_interest == annual.carried_interest == 20_000_000


def test_annual_compounding_is_below_simple_within_the_first_year() -> None:
    """182 days (2023-01-01 -> 2023-07-02). Simple: 100,000,000 * 0.08 * 182/365 = 3,989,041.10 -> 3,989,041.
    Annual: 100,000,000 * (1.08^(182/365) - 1) = 3,912,092.83 -> 3,912,093."""
    on = date(2023, 7, 2)
    simple = waterfall_distribution(terms("simple"), ONE_LP, [], 110_000_000, on)
    annual = waterfall_distribution(terms("annual"), ONE_LP, [], 110_000_000, on)
    assert simple.tiers["preferred_return"] == 3_989_041
    assert annual.tiers["preferred_return"] == 3_912_093


def test_pref_owed_rounds_half_up_and_the_residual_carries_forward() -> None:
    """10% pref on 1,825 cents for one day: 1,825 * 0.1 / 365 = 0.5 cent -> owed 1 cent (half up). Paid, the
    residual is -0.5; the next day accrues another 0.5, so the next distribution owes 0 (not another cent): over
    the two days the LP is paid exactly the 1.0 cent accrued. Catch-up 0 to keep the tiers plain."""
    fund_terms = terms(catch_up="0", pref="0.1")
    contributions = [Contribution("lp-a", date(2023, 1, 1), 1_825)]
    first = waterfall_distribution(fund_terms, contributions, [], 1_826, date(2023, 1, 2))
    assert first.tiers == tiers(return_of_capital=1_825, preferred_return=1)
    second = waterfall_distribution(fund_terms, contributions, [as_prior(first, date(2023, 1, 2))], 5, date(2023, 1, 3))
    assert second.tiers == tiers(split_lp=4, split_gp=1)


def test_pref_accrues_on_capital_net_of_what_was_returned() -> None:
    """100,000,000 on 2022-01-01; 50,000,000 returned on 2023-01-01 (pref 8,000,000 then still unpaid);
    70,000,000 distributed on 2024-01-01.
    Simple: P = 8,000,000 + 50,000,000 * 0.08 = 12,000,000; capital 50,000,000, pref 12,000,000, catch-up
    0.2 * 12,000,000 / 0.8 = 3,000,000, R = 5,000,000 -> GP 1,000,000, LP 4,000,000.
    Annual: P = 8,000,000 + (50,000,000 + 8,000,000) * 0.08 = 12,640,000 (unpaid pref compounds); catch-up
    0.2 * 12,640,000 / 0.8 = 3,160,000; R = 70,000,000 - 50,000,000 - 12,640,000 - 3,160,000 = 4,200,000 -> GP
    840,000, LP 3,360,000."""
    contributions = [Contribution("lp-a", date(2022, 1, 1), 100_000_000)]
    for fund_terms, expected in (
        (terms("simple"), tiers(50_000_000, 12_000_000, 3_000_000, 4_000_000, 1_000_000)),
        (terms("annual"), tiers(50_000_000, 12_640_000, 3_160_000, 3_360_000, 840_000)),
    ):
        first = waterfall_distribution(fund_terms, contributions, [], 50_000_000, date(2023, 1, 1))
        assert first.tiers == tiers(return_of_capital=50_000_000)
        second = waterfall_distribution(
            fund_terms, contributions, [as_prior(first, date(2023, 1, 1))], 70_000_000, date(2024, 1, 1)
        )
        assert second.tiers == expected


# --- history ------------------------------------------------------------------------------------------------------


def test_a_second_distribution_after_a_full_one_is_all_split() -> None:
    """100,000,000 on 2022-01-01; 150,000,000 on 2023-01-01 (capital, pref 8,000,000, catch-up 2,000,000, split
    32,000,000 / 8,000,000 as in the deep-split test). A year later nothing is unreturned, no pref accrues, and
    the GP holds exactly 20% of the profit (10,000,000 of 50,000,000) so no catch-up: 10,000,000 splits
    8,000,000 LP / 2,000,000 GP."""
    contributions = [Contribution("lp-a", date(2022, 1, 1), 100_000_000)]
    first = waterfall_distribution(TYPICAL, contributions, [], 150_000_000, date(2023, 1, 1))
    assert first.carried_interest == 10_000_000
    second = waterfall_distribution(
        TYPICAL, contributions, [as_prior(first, date(2023, 1, 1))], 10_000_000, date(2024, 1, 1)
    )
    assert second == DistributionResult(tiers(split_lp=8_000_000, split_gp=2_000_000), {"lp-a": 8_000_000}, 2_000_000)


def test_splitting_one_distribution_in_two_on_the_same_day_gives_the_same_tiers() -> None:
    """150,000,000 at once (deep-split test) versus 109,000,000 then 41,000,000 on the same day. The first part:
    capital 100,000,000, pref 8,000,000, catch-up 1,000,000 (GP). The second sees L = 8,000,000, G = 1,000,000:
    x = (0.2 * 9,000,000 - 1,000,000) / 0.8 = 1,000,000 more catch-up, then R = 40,000,000 -> 8,000,000 GP.
    With a 100% catch-up and round figures every tier total matches exactly, as do the LP's and GP's totals."""
    whole = waterfall_distribution(TYPICAL, ONE_LP, [], 150_000_000, YEAR_END)
    first = waterfall_distribution(TYPICAL, ONE_LP, [], 109_000_000, YEAR_END)
    second = waterfall_distribution(TYPICAL, ONE_LP, [as_prior(first, YEAR_END)], 41_000_000, YEAR_END)
    assert second.tiers == tiers(catch_up=1_000_000, split_lp=32_000_000, split_gp=8_000_000)
    for name in TIERS:
        assert first.tiers[name] + second.tiers[name] == whole.tiers[name]
    assert first.allocations["lp-a"] + second.allocations["lp-a"] == whole.allocations["lp-a"]
    assert first.carried_interest + second.carried_interest == whole.carried_interest


def test_splitting_with_an_eighty_percent_catch_up_moves_at_most_a_cent_or_two() -> None:
    """Catch-up 0.8, 150,000,000 at once: catch-up 2,666,667 (GP 2,133,334), split 31,466,666 / 7,866,667.
    In two parts, 109,000,000 then 41,000,000: the first has catch-up 1,000,000 (GP 800,000, LP 200,000); the
    second sees L = 8,200,000, G = 800,000: x = (0.2 * 9,000,000 - 800,000) / 0.6 = 1,666,666.67 -> 1,666,667
    (GP 0.8 * that = 1,333,333.6 -> 1,333,334), R = 41,000,000 - 1,666,667 = 39,333,333 -> GP 7,866,667,
    LP 31,466,666. Tier totals: catch-up 2,666,667, split 31,466,666 / 7,866,667 — identical here; in general
    capital and pref match exactly and the other tiers within the cents bounded in the property test below."""
    fund_terms = terms(catch_up="0.8")
    whole = waterfall_distribution(fund_terms, ONE_LP, [], 150_000_000, YEAR_END)
    first = waterfall_distribution(fund_terms, ONE_LP, [], 109_000_000, YEAR_END)
    second = waterfall_distribution(fund_terms, ONE_LP, [as_prior(first, YEAR_END)], 41_000_000, YEAR_END)
    assert first.tiers["catch_up"] == 1_000_000
    assert first.carried_interest == 800_000
    assert second.tiers == tiers(catch_up=1_666_667, split_lp=31_466_666, split_gp=7_866_667)
    assert second.carried_interest == 1_333_334 + 7_866_667
    for name in TIERS:
        assert first.tiers[name] + second.tiers[name] == whole.tiers[name]
    # 800,000 + 1,333,334 = 2,133,334 on the catch-up, as at once.
    assert first.carried_interest + second.carried_interest == whole.carried_interest


def test_a_gp_already_ahead_gets_no_catch_up() -> None:
    """A prior distribution paid the GP 5,000,000 and the LP nothing. At year end L = 8,000,000 (pref),
    G = 5,000,000: x = (0.2 * 13,000,000 - 5,000,000) / 0.8 < 0, so no catch-up; R = 2,000,000 splits 20/80."""
    prior = [PriorDistribution(date(2023, 6, 1), {}, 5_000_000)]
    result = waterfall_distribution(TYPICAL, ONE_LP, prior, 110_000_000, YEAR_END)
    assert result.tiers == tiers(100_000_000, 8_000_000, 0, 1_600_000, 400_000)


def test_a_prior_payment_to_an_investor_without_capital_is_lp_profit() -> None:
    """1,000,000 paid on 2023-06-01 to "lp-x", who never contributed: it is LP profit, so at year end L =
    1,000,000 + 8,000,000 pref and the catch-up is 0.2 * 9,000,000 / 0.8 = 2,250,000. "lp-x" is not allocated."""
    prior = [PriorDistribution(date(2023, 6, 1), {"lp-x": 1_000_000}, 0)]
    result = waterfall_distribution(TYPICAL, ONE_LP, prior, 112_000_000, YEAR_END)
    assert result.tiers == tiers(100_000_000, 8_000_000, 2_250_000, 1_400_000, 350_000)
    assert result.allocations == {"lp-a": 109_400_000}


def test_a_prior_payment_before_an_investors_first_contribution_is_lp_profit() -> None:
    """ "lp-b" is paid 1,000,000 on 2023-03-01 and contributes 100,000,000 only on 2023-07-01: that payment is LP
    profit (it returns none of lp-b's later capital). At year end lp-a's pref is 8,000,000 and lp-b's is
    100,000,000 * 0.08 * 184 / 365 = 4,032,876.71..., owed 4,032,877; L = 1,000,000 + 12,032,877, so the
    catch-up is 0.2 * 13,032,877 / 0.8 = 3,258,219.25, rounded up to 3,258,220."""
    contributions = [*ONE_LP, Contribution("lp-b", date(2023, 7, 1), 100_000_000)]
    prior = [PriorDistribution(date(2023, 3, 1), {"lp-b": 1_000_000}, 0)]
    result = waterfall_distribution(TYPICAL, contributions, prior, 215_291_097, YEAR_END)
    assert result.tiers == tiers(200_000_000, 12_032_877, 3_258_220)
    assert result.carried_interest == 3_258_220
    assert result.allocations == {"lp-a": 108_000_000, "lp-b": 104_032_877}


@pytest.mark.parametrize(
    "pref", ["0", "-0.5", "-0.6", "-3", "0.4999", "0.5", "0.5001", "1.5", "2.5", "1234567.5", "1E+3", "0.49999999999"]
)
def test_pref_owed_is_pref_rounded_half_up_and_never_negative(pref: str) -> None:
    assert _pref_owed(Decimal(pref)) == max(0, round_half_up(Decimal(pref)))


def test_events_after_the_distribution_date_are_ignored() -> None:
    """A contribution and a prior distribution dated after 2024-01-01 change nothing; "lp-late" had not
    contributed by then and is absent from the allocations."""
    later = date(2024, 1, 2)
    contributions = [*ONE_LP, Contribution("lp-late", later, 50_000_000), Contribution("lp-a", later, 1)]
    prior = [PriorDistribution(later, {"lp-a": 7}, 3)]
    assert waterfall_distribution(TYPICAL, contributions, prior, 150_000_000, YEAR_END) == waterfall_distribution(
        TYPICAL, ONE_LP, [], 150_000_000, YEAR_END
    )


def test_on_the_same_date_contributions_come_before_distributions() -> None:
    """A contribution of 100,000,000 and a 10,000,000 distribution both on 2023-01-01: the distribution returns
    capital (K = 90,000,000 after it), so a year later pref is 90,000,000 * 0.08 = 7,200,000."""
    prior = [PriorDistribution(date(2023, 1, 1), {"lp-a": 10_000_000}, 0)]
    result = waterfall_distribution(TYPICAL, ONE_LP, prior, 97_200_000, YEAR_END)
    assert result.tiers == tiers(return_of_capital=90_000_000, preferred_return=7_200_000)


# --- validation ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("catch_up", "carry", "pref"),
    [("0.2", "0.2", "0.08"), ("0.1", "0.2", "0.08"), ("1.1", "0.2", "0.08"), ("1", "-0.1", "0.08"), ("1", "0.2", "2")],
)
def test_terms_refuse_rates_out_of_range_or_a_catch_up_at_or_below_carry(catch_up: str, carry: str, pref: str) -> None:
    with pytest.raises(ValueError, match="must be"):
        terms(catch_up=catch_up, carry=carry, pref=pref)


def test_terms_refuse_floats_and_unknown_compounding() -> None:
    with pytest.raises(TypeError):
        WaterfallTerms(0.08, "simple", Decimal(1), Decimal("0.2"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pref_compounding"):
        terms("quarterly")  # type: ignore[arg-type]


def test_negative_amounts_and_distributing_without_capital_refuse() -> None:
    with pytest.raises(ValueError, match="negative"):
        waterfall_distribution(TYPICAL, ONE_LP, [], -1, YEAR_END)
    with pytest.raises(ValueError, match="negative"):
        Contribution("lp-a", YEAR_END, -5)
    with pytest.raises(ValueError, match="negative"):
        PriorDistribution(YEAR_END, {"lp-a": -1}, 0)
    with pytest.raises(ValueError, match="no capital"):
        waterfall_distribution(TYPICAL, [], [], 1, YEAR_END)
    with pytest.raises(ValueError, match="no capital"):
        pro_rata_distribution(ONE_LP, 1, date(2022, 1, 1))
    with pytest.raises(TypeError):
        waterfall_distribution(TYPICAL, ONE_LP, [], 1.5, YEAR_END)  # type: ignore[arg-type]


# --- pro rata -----------------------------------------------------------------------------------------------------


def test_pro_rata_shares_by_capital_contributed_up_to_the_date_and_reports_it_as_split_lp() -> None:
    """A 60,000,000 + 15,000,000, B 25,000,000 by 2024-01-01 (C's contribution is later): 1,000,001 shares
    75:25 -> 750,000.75 / 250,000.25 -> floors 750,000 + 250,000, the cent to A (larger remainder)."""
    contributions = [
        Contribution("lp-a", date(2023, 1, 1), 60_000_000),
        Contribution("lp-b", date(2023, 3, 1), 25_000_000),
        Contribution("lp-a", date(2023, 6, 1), 15_000_000),
        Contribution("lp-c", date(2024, 2, 1), 50_000_000),
    ]
    result = pro_rata_distribution(contributions, 1_000_001, YEAR_END)
    assert result == DistributionResult(tiers(split_lp=1_000_001), {"lp-a": 750_001, "lp-b": 250_000}, 0)


def test_pro_rata_of_nothing() -> None:
    assert pro_rata_distribution(ONE_LP, 0, YEAR_END) == DistributionResult(tiers(), {"lp-a": 0}, 0)


# --- performance --------------------------------------------------------------------------------------------------


# --- properties ---------------------------------------------------------------------------------------------------

BASE = date(2020, 1, 1)
COMPOUNDINGS: tuple[Literal["annual", "simple"], ...] = ("annual", "simple")


@st.composite
def fund_terms(draw: st.DrawFn) -> WaterfallTerms:
    carry = draw(st.sampled_from(["0", "0.1", "0.2", "0.25", "0.3"]))
    catch_up = draw(st.sampled_from(["0", "0.5", "0.8", "1"]))
    if catch_up != "0" and Decimal(catch_up) <= Decimal(carry):
        catch_up = "1"
    pref = draw(st.decimals(min_value=0, max_value="0.2", places=4))
    compounding = draw(st.sampled_from(COMPOUNDINGS))
    return WaterfallTerms(pref, compounding, Decimal(catch_up), Decimal(carry))


contribution_lists = st.lists(
    st.builds(
        Contribution,
        investor_id=st.sampled_from(["a", "b", "c", "d"]),
        on=st.integers(min_value=0, max_value=1_000).map(lambda days: BASE + timedelta(days=days)),
        amount=st.integers(min_value=1, max_value=10**9),
    ),
    min_size=1,
    max_size=6,
)


def check_invariants(fund: WaterfallTerms, result: DistributionResult, amount: int) -> None:
    assert list(result.tiers) == list(TIERS)
    assert sum(result.tiers.values()) == amount
    assert sum(result.allocations.values()) + result.carried_interest == amount
    catch_up_gp = min(result.tiers["catch_up"], round_half_up(fund.catch_up_rate * result.tiers["catch_up"]))
    assert result.carried_interest == catch_up_gp + result.tiers["split_gp"]
    assert result.tiers["split_gp"] == round_half_up(
        fund.carry_rate * (result.tiers["split_lp"] + result.tiers["split_gp"])
    )
    assert min(result.tiers.values()) >= 0
    assert min(result.allocations.values(), default=0) >= 0
    assert result.carried_interest >= 0


history_steps = st.lists(st.tuples(st.integers(0, 400), st.integers(0, 3 * 10**9)), max_size=3)


@FAST
@given(fund_terms(), contribution_lists, history_steps)
def test_every_distribution_in_a_history_keeps_the_invariants(
    fund: WaterfallTerms, contributions: list[Contribution], steps: list[tuple[int, int]]
) -> None:
    on = BASE + timedelta(days=500)
    prior: list[PriorDistribution] = []
    for gap, amount in [*steps, (0, 10**9)]:
        on += timedelta(days=gap)
        if amount and not any(c.on <= on for c in contributions):
            with pytest.raises(ValueError, match="no capital"):
                waterfall_distribution(fund, contributions, prior, amount, on)
            continue
        result = waterfall_distribution(fund, contributions, prior, amount, on)
        check_invariants(fund, result, amount)
        assert set(result.allocations) == {c.investor_id for c in contributions if c.on <= on}
        prior.append(as_prior(result, on))


@FAST
@given(
    fund_terms(),
    contribution_lists,
    st.lists(
        st.builds(
            PriorDistribution,
            on=st.integers(0, 1_200).map(lambda days: BASE + timedelta(days=days)),
            lp_amounts=st.dictionaries(st.sampled_from(["a", "b", "x"]), st.integers(0, 10**9), max_size=3),
            gp_amount=st.integers(0, 10**8),
        ),
        max_size=3,
    ),
    st.integers(0, 5 * 10**9),
    st.randoms(use_true_random=False),
)
def test_arbitrary_histories_keep_the_invariants_and_the_input_order_does_not_matter(
    fund: WaterfallTerms,
    contributions: list[Contribution],
    prior: list[PriorDistribution],
    amount: int,
    rng: random.Random,
) -> None:
    on = BASE + timedelta(days=1_200)
    result = waterfall_distribution(fund, contributions, prior, amount, on)
    check_invariants(fund, result, amount)
    assert waterfall_distribution(fund, contributions, prior, amount, on) == result
    shuffled_contributions, shuffled_prior = contributions[:], prior[:]
    rng.shuffle(shuffled_contributions)
    rng.shuffle(shuffled_prior)
    assert waterfall_distribution(fund, shuffled_contributions, shuffled_prior, amount, on) == result


@FAST
@given(
    fund_terms(),
    contribution_lists,
    st.lists(st.tuples(st.integers(0, 500), st.integers(0, 3 * 10**9)), max_size=2),
    st.integers(1, 5 * 10**9),
    st.data(),
)
def test_splitting_a_distribution_on_one_day_moves_only_rounding_cents(
    fund: WaterfallTerms,
    contributions: list[Contribution],
    earlier: list[tuple[int, int]],
    amount: int,
    data: st.DataObject,
) -> None:
    """Paying ``amount`` as two parts on the same day, the second after the first (passed as a prior), against
    paying it at once. Capital and pref totals match exactly (pref owed is rounded per investor, and paying
    whole cents off it shifts the rounding exactly). The catch-up, split and carry totals move by at most
    B = 2 + ceil(1/(c - k)) cents (2 without a catch-up): the first part's GP roundings (catch-up share and
    split, half a cent each) leave the GP up to a cent off its exact share, which moves the catch-up still
    needed by up to 1/(c - k), then rounded up; each part also rounds its own split. Each LP's total moves by
    at most B + 2: its LP-side shares are each within a cent of exact (largest remainder)."""
    on = BASE + timedelta(days=1_100)
    prior: list[PriorDistribution] = []
    day = BASE
    for gap, earlier_amount in earlier:
        day += timedelta(days=gap)
        if any(c.on <= day for c in contributions):
            prior.append(as_prior(waterfall_distribution(fund, contributions, prior, earlier_amount, day), day))
    if not any(c.on <= on for c in contributions):
        return
    first_amount = data.draw(st.integers(0, amount), label="first part")
    whole = waterfall_distribution(fund, contributions, prior, amount, on)
    first = waterfall_distribution(fund, contributions, prior, first_amount, on)
    second = waterfall_distribution(fund, contributions, [*prior, as_prior(first, on)], amount - first_amount, on)
    check_invariants(fund, first, first_amount)
    check_invariants(fund, second, amount - first_amount)
    bound = 2 + (math.ceil(1 / (fund.catch_up_rate - fund.carry_rate)) if fund.catch_up_rate else 0)
    for name in ("return_of_capital", "preferred_return"):
        assert first.tiers[name] + second.tiers[name] == whole.tiers[name]
    for name in ("catch_up", "split_lp", "split_gp"):
        assert abs(first.tiers[name] + second.tiers[name] - whole.tiers[name]) <= bound
    assert abs(first.carried_interest + second.carried_interest - whole.carried_interest) <= bound
    for investor_id, paid in whole.allocations.items():
        assert abs(first.allocations[investor_id] + second.allocations[investor_id] - paid) <= bound + 2

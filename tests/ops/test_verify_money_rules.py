"""The arithmetic behind naming one edited share of a digest-pinned set (``ops.verify_money._single_out``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cornerstone.kernel.events.service import allocations_digest
from cornerstone.ops.verify_money import SINGLE_OUT_LIMIT, _single_out

share_sets = st.dictionaries(
    st.text(alphabet="0123456789abcdef", min_size=32, max_size=32), st.integers(1, 10**12), min_size=1, max_size=40
)


@given(shares=share_sets, data=st.data())
def test_one_edited_share_is_named_with_its_original_amount(shares: dict[str, int], data: st.DataObject) -> None:
    pinned, total = allocations_digest(shares), sum(shares.values())
    victim = data.draw(st.sampled_from(sorted(shares)), label="edited share")
    delta = data.draw(st.integers(-(10**9), 10**9).filter(lambda d: d != 0), label="forged difference")
    assert _single_out({**shares, victim: shares[victim] + delta}, total, pinned) == (victim, shares[victim])


@given(shares=share_sets)
def test_an_untouched_set_or_one_whose_sum_did_not_move_names_nobody(shares: dict[str, int]) -> None:
    pinned, total = allocations_digest(shares), sum(shares.values())
    assert _single_out(shares, total, pinned) is None
    if len(shares) >= 2:  # two shares edited so the sum holds: the set is named, not a row
        first, second = sorted(shares)[:2]
        swapped = {**shares, first: shares[first] + 1, second: shares[second] - 1}
        assert _single_out(swapped, total, pinned) is None


def test_a_set_past_the_limit_is_not_searched_and_one_at_the_limit_is() -> None:
    victim = f"{0:032x}"
    for size, named in ((SINGLE_OUT_LIMIT + 1, None), (SINGLE_OUT_LIMIT, (victim, 100))):
        shares = {f"{i:032x}": 100 for i in range(size)}
        assert _single_out({**shares, victim: 101}, 100 * size, allocations_digest(shares)) == named

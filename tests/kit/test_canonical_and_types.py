from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from cornerstone.contracts.types import DecimalString
from cornerstone.kit.canonical import canonical_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values))
def test_canonical_json_does_not_depend_on_key_order(document: dict[str, object]) -> None:
    reordered = dict(reversed(list(document.items())))
    assert canonical_json(document) == canonical_json(reordered)


def test_canonical_json_is_compact_sorted_and_keeps_unicode() -> None:
    assert canonical_json({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        canonical_json({"x": float("nan")})


class _Rate(BaseModel):
    rate: DecimalString


def test_decimal_strings_round_trip_exactly() -> None:
    assert _Rate(rate="0.085").rate == Decimal("0.085")
    assert _Rate(rate="0.085").model_dump(mode="json") == {"rate": "0.085"}


@pytest.mark.parametrize("bad", [0.085, 1, "abc", "NaN", "Infinity", "0.1234567", "1" * 40])
def test_decimal_strings_refuse_floats_junk_and_excess_precision(bad: object) -> None:
    with pytest.raises(ValidationError):
        _Rate(rate=bad)

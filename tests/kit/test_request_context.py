from __future__ import annotations

import pytest

from cornerstone.kit.request_context import accept_or_new_request_id


@pytest.mark.parametrize("good", ["abc", "A.b_c-9", "x" * 128, "0"])
def test_well_formed_request_ids_are_kept(good: str) -> None:
    assert accept_or_new_request_id(good) == good


@pytest.mark.parametrize("bad", [None, "", "x" * 129, "has space", "semi;colon", "ünï", "line\nbreak"])
def test_malformed_request_ids_are_replaced_by_a_fresh_one(bad: str | None) -> None:
    replaced = accept_or_new_request_id(bad)
    assert replaced != bad
    assert accept_or_new_request_id(replaced) == replaced
    assert accept_or_new_request_id(bad) != replaced

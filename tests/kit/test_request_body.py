"""The JSON complexity rule: depth counts containers, keys are counted over the whole document."""

from __future__ import annotations

from typing import Any

import pytest

from cornerstone.kit.request_body import json_complexity_problem


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("document", "kind"),
    [
        (nested(32), None),
        (nested(33), "json_too_deep"),
        ({"a": {"b": nested(30)}}, None),
        ({"a": {"b": nested(31)}}, "json_too_deep"),
        ({f"k{i}": i for i in range(10)}, None),
        ({f"k{i}": i for i in range(11)}, "json_too_many_keys"),
        ([{f"k{i}": i} for i in range(11)], "json_too_many_keys"),  # counted over the document
        ("a string", None),
        (nested(100_000), "json_too_deep"),  # iterative: no recursion limit involved
    ],
)
def test_depth_and_key_count_limits(document: Any, kind: str | None) -> None:
    problem = json_complexity_problem(document, max_depth=32, max_keys=10)
    assert (problem[0] if problem else None) == kind

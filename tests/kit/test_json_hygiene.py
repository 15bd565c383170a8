"""The request-body layer reads JSON as RFC 8259 exchanges it: UTF-8 without a BOM, each key once per
object, no lone surrogate. (The same refusals through both services: tests/integration/test_hostile_input.py.)"""

from __future__ import annotations

import json

import pytest

from cornerstone.kit.problems import BadRequest, ValidationFailed
from cornerstone.kit.request_body import RequestBodyMiddleware, json_text

LAYER = RequestBodyMiddleware(None, max_body_bytes=1 << 20, max_json_depth=32, max_json_keys=1000)  # type: ignore[arg-type]
DOCUMENT = {"name": "Tower", "address": {"city": "Zürich"}, "tags": ["a", "😀"]}


@pytest.mark.parametrize(
    "encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be", "utf-8-sig"]
)
def test_json_in_another_encoding_or_with_a_bom_is_a_400(encoding: str) -> None:
    body = json.dumps(DOCUMENT).encode(encoding)
    assert json.loads(body) == DOCUMENT  # what the application's own parser would have accepted
    assert json_text(body) is None
    assert isinstance(LAYER._json_problem(body), BadRequest)


def test_bytes_that_are_not_utf_8_are_a_400() -> None:
    for body in (b'{"name": "\xff"}', b'{"name": "\xc3"}', b'{"name": "\xed\xa0\x80"}'):  # the last: a UTF-8 surrogate
        assert isinstance(LAYER._json_problem(body), BadRequest), body


def test_utf_8_json_passes_unchanged() -> None:
    assert LAYER._json_problem(json.dumps(DOCUMENT, ensure_ascii=False).encode()) is None
    assert LAYER._json_problem(json.dumps(DOCUMENT).encode()) is None  # \u escapes, a surrogate pair among them
    assert LAYER._json_problem(b"not json at all") is None  # left to the application's parser (its 422)


@pytest.mark.parametrize(
    "body",
    [
        b'{"amount": 1000, "purpose": "x", "amount": 999999}',
        b'{"address": {"city": "A", "city": "B"}}',
        b'[{"k": 1}, {"k": 1, "k": 2}]',
        b'{"": 1, "": 2}',
    ],
)
def test_a_key_repeated_in_one_object_is_a_422(body: bytes) -> None:
    problem = LAYER._json_problem(body)
    assert isinstance(problem, ValidationFailed)
    assert problem.extra["errors"][0]["type"] == "json_duplicate_key"
    assert problem.extra["errors"][0]["field"] == "body"


def test_the_same_key_in_different_objects_is_fine() -> None:
    assert LAYER._json_problem(b'{"a": {"k": 1}, "b": {"k": 2}, "k": 3}') is None


@pytest.mark.parametrize(
    "body",
    [b'{"name": "\\ud800"}', b'{"name": "x\\uDFFFy"}', b'{"\\udbff": 1}', b'["\\ud83d"]', b'{"n": "\\ude00\\ud83d"}'],
)
def test_a_lone_surrogate_escape_is_a_422(body: bytes) -> None:
    problem = LAYER._json_problem(body)
    assert isinstance(problem, ValidationFailed)
    assert problem.extra["errors"][0]["type"] == "json_lone_surrogate"


def test_a_repeated_key_with_an_odd_name_is_not_echoed() -> None:
    problem = LAYER._json_problem(b'{"<script>": 1, "<script>": 2}')
    assert isinstance(problem, ValidationFailed)
    assert "<script>" not in problem.detail

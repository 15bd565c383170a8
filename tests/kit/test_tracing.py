"""W3C ``traceparent`` handling (``kit.tracing``) and its trip through a service (``kit.middleware``)."""

from __future__ import annotations

import re

import pytest

from cornerstone.kit.tracing import accept_or_new_trace

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
HEADER = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def test_a_valid_traceparent_keeps_its_trace_id_and_flags_with_a_span_of_our_own() -> None:
    trace = accept_or_new_trace(VALID)
    assert trace.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace.flags == "01"
    assert trace.span_id != "00f067aa0ba902b7"
    assert HEADER.match(trace.header())
    child = trace.child_header()
    assert child.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert child.split("-")[2] not in {trace.span_id, "00f067aa0ba902b7"}
    assert child.endswith("-01")


def test_a_later_version_with_extra_fields_is_understood() -> None:
    trace = accept_or_new_trace("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds")
    assert trace.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case is invalid
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff is forbidden
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # version 00 has four fields
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
    ],
)
def test_anything_else_starts_a_new_trace(header: str | None) -> None:
    trace = accept_or_new_trace(header)
    assert trace.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736"
    assert re.fullmatch(r"[0-9a-f]{32}", trace.trace_id)
    assert trace.trace_id != "0" * 32
    assert HEADER.match(trace.header())


def test_new_traces_are_distinct() -> None:
    assert len({accept_or_new_trace(None).trace_id for _ in range(100)}) == 100

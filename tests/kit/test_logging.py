"""Log lines: an exception's traceback is logged as data, but never the values its frames held."""

from __future__ import annotations

import json

import pytest
import structlog

from cornerstone.kit.logging import configure_logging


def test_an_unhandled_error_is_logged_with_its_traceback_and_without_frame_locals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("test", "INFO")
    log = structlog.get_logger("test")

    def charge(authorization: str, tax_id: str) -> None:
        raise RuntimeError("the processor refused the charge")

    try:
        charge("Bearer eyJhbGciOiJIUzI1NiJ9.secret-token", "123-45-6789")
    except RuntimeError:
        log.exception("unhandled_error")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "unhandled_error"
    frames = record["exception"][0]["frames"]
    assert [frame["name"] for frame in frames][-1] == "charge"
    assert all("locals" not in frame for frame in frames)
    assert "secret-token" not in line
    assert "6789" not in line

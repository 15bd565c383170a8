"""The outcome of a run of named checks: each check's verdict, and the report printed as lines or JSON.

A check passes, fails, or is skipped (``passed`` null: it needs something the operator did not give);
a skip is not a pass, is counted apart, and does not fail the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class Skipped(Exception):
    """The check cannot run with what the operator gave; the message says what is missing."""


class CheckFailed(Exception):
    """The property does not hold, or what the check needs could not be obtained; the message says why."""


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    detail: str


def ok(detail: str) -> Verdict:
    return Verdict(True, detail)


def fail(detail: str) -> Verdict:
    return Verdict(False, detail)


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    passed: bool | None  # None: skipped
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Report:
    results: tuple[CheckResult, ...]

    @property
    def failed(self) -> list[str]:
        return [r.name for r in self.results if r.passed is False]

    @property
    def skipped(self) -> list[str]:
        return [r.name for r in self.results if r.passed is None]

    @property
    def passed(self) -> bool:
        """No check failed (skips are not passes, but they do not fail the run)."""
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        passes = sum(1 for r in self.results if r.passed)
        return {
            "checks": [r.as_dict() for r in self.results],
            "passed": self.passed,
            "counts": {"passed": passes, "failed": len(self.failed), "skipped": len(self.skipped)},
            "failed": self.failed,
            "skipped": self.skipped,
        }

    def text_lines(self) -> list[str]:
        lines = [f"{_word(r.passed)} {r.name} - {r.detail}" for r in self.results]
        counts = self.as_dict()["counts"]
        lines.append(
            f"{len(self.results)} checks: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped"
        )
        if self.failed:
            lines.append("failed: " + ", ".join(self.failed))
        return lines


def _word(passed: bool | None) -> str:
    return "SKIP" if passed is None else "PASS" if passed else "FAIL"


def render(report: Report, *, as_json: bool) -> str:
    if as_json:
        return json.dumps(report.as_dict(), indent=2)
    return "\n".join(report.text_lines())

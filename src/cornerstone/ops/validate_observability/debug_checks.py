"""Checks of the admin's debug endpoints (API.md, "Observability and failure safety"): who may read
them, their documented keys, the kernel breaker agreeing with ``/metrics``, and a recent-errors
buffer holding nothing secret."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from cornerstone.ops.validate_observability.probe import (
    Check,
    CheckFunction,
    Probe,
    json_body,
    problem_code,
    problem_defects,
)
from cornerstone.ops.validate_observability.report import CheckFailed, Verdict, fail, ok

CIRCUIT_KEYS = (
    "dependency",
    "state",
    "failure_rate",
    "slow_call_rate",
    "calls_in_window",
    "opened_at",
    "retry_in_seconds",
)
# cornerstone_circuit_state's values (API.md: 0 closed, 1 half-open, 2 open).
CIRCUIT_GAUGE = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
STATUS_KEYS = ("version", "uptime_seconds", "kernel", "database", "redis", "circuits")
DEPENDENCY_KEYS = ("reachable", "latency_ms")
REDIS_KEYS = ("configured", "reachable", "latency_ms", "backend")
# API.md's keys of an /api/debug/errors item: anything else may be a body or a header leaking in.
ERROR_ITEM_KEYS = frozenset({"at", "request_id", "route", "status", "code", "error", "dependency"})

# What must never be in a recent-errors item, by the name a failure reports. The tax-id shapes stand
# alone (not inside a longer run of letters and digits, such as a hex request id).
SECRET_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a Bearer credential", re.compile(r"bearer", re.IGNORECASE)),
    ("a JWT-shaped value", re.compile(r"eyJ[A-Za-z0-9_-]{5,}")),
    ("an email address", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    ("a tax-id-shaped number", re.compile(r"(?<![A-Za-z0-9])(\d{3}-\d{2}-\d{4}|\d{2}-\d{7}|\d{9})(?![A-Za-z0-9])")),
    ("the word password", re.compile(r"password", re.IGNORECASE)),
)


def _debug_anonymous(path: str) -> CheckFunction:
    def check(probe: Probe) -> Verdict:
        defects = problem_defects(probe.bff.get(path), 401)
        return fail("; ".join(defects)) if defects else ok("401 problem")

    return check


def _debug_non_admin(path: str) -> CheckFunction:
    def check(probe: Probe) -> Verdict:
        answer = probe.bff.get(path, headers=probe.bearer(probe.user_token()))
        defects = problem_defects(answer, 403)
        return fail("; ".join(defects)) if defects else ok(f"403 problem {problem_code(answer)}")

    return check


def _keys_defects(body: Any, keys: Sequence[str], where: str) -> list[str]:
    if not isinstance(body, dict):
        return [f"{where} is not an object"]
    missing = [key for key in keys if key not in body]
    return [f"{where} lacks {', '.join(missing)}"] if missing else []


def debug_status(probe: Probe) -> Verdict:
    answer = probe.debug("/api/debug/status")
    if answer.status_code != 200:
        return fail(f"the admin got {answer.status_code} {problem_code(answer)}")
    body = json_body(answer)
    defects = _keys_defects(body, STATUS_KEYS, "the body")
    if not defects:
        defects += _keys_defects(body["kernel"], DEPENDENCY_KEYS, "kernel")
        defects += _keys_defects(body["database"], DEPENDENCY_KEYS, "database")
        defects += _keys_defects(body["redis"], REDIS_KEYS, "redis")
        if not isinstance(body["circuits"], list):
            defects.append("circuits is not a list")
    return fail("; ".join(defects)) if defects else ok("200 with " + ", ".join(STATUS_KEYS))


def debug_status_dependencies_up(probe: Probe) -> Verdict:
    answer = probe.debug("/api/debug/status")
    if answer.status_code != 200:
        return fail(f"the admin got {answer.status_code}")
    body = json_body(answer)
    down = [name for name in ("kernel", "database") if (body.get(name) or {}).get("reachable") is not True]
    redis = body.get("redis") or {}
    if redis.get("configured") and redis.get("reachable") is not True:
        down.append("redis")
    if down:
        return fail("not reachable: " + ", ".join(down))
    latencies = ", ".join(f"{name} {(body.get(name) or {}).get('latency_ms')} ms" for name in ("kernel", "database"))
    return ok(f"reachable: {latencies}; redis {'configured' if redis.get('configured') else 'not configured'}")


def _circuits(probe: Probe, fresh: bool = False) -> list[dict[str, Any]]:
    if fresh:
        answer = probe.bff.get("/api/debug/circuits", headers=probe.bearer(probe.admin_token()))
    else:
        answer = probe.debug("/api/debug/circuits")
    if answer.status_code != 200:
        raise CheckFailed(f"the admin got {answer.status_code} {problem_code(answer)}")
    circuits = json_body(answer).get("circuits")
    if not isinstance(circuits, list):
        raise CheckFailed("the body has no circuits list")
    return [c for c in circuits if isinstance(c, dict)]


def debug_circuits_kernel(probe: Probe) -> Verdict:
    circuits = _circuits(probe)
    kernel = next((c for c in circuits if c.get("dependency") == "kernel"), None)
    if kernel is None:
        return fail(f"no kernel breaker among {[c.get('dependency') for c in circuits]}")
    defects = _keys_defects(kernel, CIRCUIT_KEYS, "the kernel breaker")
    if kernel.get("state") not in CIRCUIT_GAUGE:
        defects.append(f"state {kernel.get('state')!r} is not closed, open or half_open")
    return fail("; ".join(defects)) if defects else ok(f"kernel breaker {kernel['state']}")


def debug_circuits_match_metrics(probe: Probe) -> Verdict:
    """Each breaker's state is what ``cornerstone_circuit_state`` says; read twice before failing, as
    a breaker may change state between the two reads."""
    mismatches: list[str] = []
    for attempt in range(2):
        circuits = _circuits(probe, fresh=attempt > 0)
        scrape = probe.scrape("bff") if attempt == 0 else probe.fresh_scrape("bff")
        gauges = {
            labels.get("dependency"): value
            for name, labels, value in scrape.samples
            if name == "cornerstone_circuit_state"
        }
        mismatches = [
            f"{c.get('dependency')}: {c.get('state')} vs gauge {gauges.get(c.get('dependency'))}"
            for c in circuits
            if gauges.get(c.get("dependency")) != CIRCUIT_GAUGE.get(str(c.get("state")))
        ]
        if not mismatches:
            return ok(", ".join(f"{c.get('dependency')} {c.get('state')}" for c in circuits) or "no breakers")
    return fail("; ".join(mismatches))


def _error_items(probe: Probe) -> list[Any]:
    answer = probe.debug("/api/debug/errors")
    if answer.status_code != 200:
        raise CheckFailed(f"the admin got {answer.status_code} {problem_code(answer)}")
    items = json_body(answer).get("items")
    if not isinstance(items, list):
        raise CheckFailed("the body has no items list")
    return items


def debug_errors_keys(probe: Probe) -> Verdict:
    items = _error_items(probe)
    defects = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            defects.append(f"item {index} is not an object")
        elif extra := sorted(set(item) - ERROR_ITEM_KEYS):
            defects.append(f"item {index} has {', '.join(extra)}")
    return fail("; ".join(defects[:3])) if defects else ok(f"{len(items)} items, only the documented keys")


def secret_findings(
    text: str, known: Iterable[str], shapes: Sequence[tuple[str, re.Pattern[str]]] = SECRET_SHAPES
) -> list[str]:
    """What secret-looking things ``text`` holds, by kind (never the value)."""
    found = [name for name, pattern in shapes if pattern.search(text)]
    if any(value in text for value in known):
        found.append("a token or password given to this run")
    return found


def debug_errors_no_secrets(probe: Probe) -> Verdict:
    items = _error_items(probe)
    findings = [
        f"item {index}: {what}"
        for index, item in enumerate(items)
        for what in secret_findings(json.dumps(item), probe.target.known_secrets())
    ]
    if findings:
        return fail("; ".join(findings[:5]))
    return ok(f"{len(items)} items, nothing secret-looking" if items else "no items (nothing recorded to leak)")


def debug_errors_limit(probe: Probe) -> Verdict:
    recorded = len(_error_items(probe))
    answer = probe.bff.get("/api/debug/errors", params={"limit": 1}, headers=probe.bearer(probe.admin_token()))
    if answer.status_code != 200:
        return fail(f"limit=1 answered {answer.status_code}")
    items = json_body(answer).get("items")
    # The buffer never empties itself: once the earlier full read saw an item, limit=1 gives exactly one.
    if not isinstance(items, list) or len(items) > 1 or (recorded and not items):
        return fail(f"limit=1 gave {len(items) if isinstance(items, list) else 'no'} items of {recorded}")
    return ok(f"limit=1 gave {len(items)} item(s) of {recorded}")


def debug_errors_bad_limit(probe: Probe) -> Verdict:
    defects: list[str] = []
    for limit in ("0", "100000", "many"):
        answer = probe.bff.get("/api/debug/errors", params={"limit": limit}, headers=probe.bearer(probe.admin_token()))
        defects += [f"limit={limit}: {d}" for d in problem_defects(answer, 422)]
    return fail("; ".join(defects)) if defects else ok("limit=0, 100000 and 'many' are 422 problems")


DEBUG_CHECKS: tuple[Check, ...] = (
    Check("debug.status_anonymous_401", _debug_anonymous("/api/debug/status")),
    Check("debug.status_non_admin_403", _debug_non_admin("/api/debug/status")),
    Check("debug.status_admin_200", debug_status),
    Check("debug.status_dependencies_reachable", debug_status_dependencies_up),
    Check("debug.circuits_anonymous_401", _debug_anonymous("/api/debug/circuits")),
    Check("debug.circuits_non_admin_403", _debug_non_admin("/api/debug/circuits")),
    Check("debug.circuits_kernel_breaker", debug_circuits_kernel),
    Check("debug.circuits_match_metrics", debug_circuits_match_metrics),
    Check("debug.errors_anonymous_401", _debug_anonymous("/api/debug/errors")),
    Check("debug.errors_non_admin_403", _debug_non_admin("/api/debug/errors")),
    Check("debug.errors_documented_keys", debug_errors_keys),
    Check("debug.errors_no_secrets", debug_errors_no_secrets),
    Check("debug.errors_limit_respected", debug_errors_limit),
    Check("debug.errors_bad_limit_422", debug_errors_bad_limit),
)

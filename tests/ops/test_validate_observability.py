"""``cornerstone validate observability``: green on a healthy real stack, red by name when a property
is broken (a wrong metrics token; a bare server standing in for the BFF), and never a traceback.

Every run goes through the command line in a subprocess, as an operator runs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from cornerstone.kit.metrics import FAMILIES
from cornerstone.ops.validate_observability import CHECKS
from cornerstone.ops.validate_observability.debug_checks import secret_findings
from cornerstone.ops.validate_observability.metrics_checks import route_label_defect
from tests.support import TEST_PASSWORD, Databases, Org, Stack, free_port, new_org, running_stack, wait_until

NON_ADMIN_CHECKS = {"debug.status_non_admin_403", "debug.circuits_non_admin_403", "debug.errors_non_admin_403"}


def validate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``cornerstone validate observability ARGS`` with none of this process's CORNERSTONE_ settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CORNERSTONE_")}
    return subprocess.run(
        [sys.executable, "-m", "cornerstone", "validate", "observability", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )


def stack_args(stack: Stack) -> list[str]:
    return ["--url", stack.bff.url, "--kernel-url", stack.kernel.url]


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert isinstance(report, dict)
    return report


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


def test_a_healthy_stack_passes_every_named_check(stack: Stack, org: Org) -> None:
    result = validate(
        *stack_args(stack),
        "--data-dir",
        str(stack.databases.data_dir),
        "--admin-token",
        org.admin_token,
        "--user-token",
        org.token("gp"),
        "--json",
    )
    report = report_of(result)
    assert result.returncode == 0, [c for c in report["checks"] if not c["passed"]]
    assert report["passed"] is True
    checks = report["checks"]
    assert len(checks) >= 40
    assert [c["name"] for c in checks] == [check.name for check in CHECKS]
    assert len({c["name"] for c in checks}) == len(checks)
    for check in checks:
        assert set(check) == {"name", "passed", "detail"}, check
        assert check["passed"] is True, check
        assert isinstance(check["detail"], str), check
        assert check["detail"], check
    assert {f"metrics.bff_family.{family}" for family in FAMILIES} <= set(by_name(report))
    assert report["counts"] == {"passed": len(checks), "failed": 0, "skipped": 0}
    # Nothing the run was given is printed.
    assert org.admin_token not in result.stdout
    assert org.token("gp") not in result.stdout


def test_text_report_signs_the_admin_in_and_skips_the_refusals_without_a_user(stack: Stack, org: Org) -> None:
    result = validate(
        *stack_args(stack),
        "--data-dir",
        str(stack.databases.data_dir),
        "--admin-email",
        org.admin_email,
        env={"CORNERSTONE_VALIDATE_ADMIN_PASSWORD": TEST_PASSWORD},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    check_lines, summary = lines[:-1], lines[-1]
    assert len(check_lines) == len(CHECKS)
    for line, check in zip(check_lines, CHECKS, strict=True):
        assert re.match(rf"^(PASS|SKIP) {re.escape(check.name)} - \S", line), line
    skipped = {line.split()[1] for line in check_lines if line.startswith("SKIP")}
    assert skipped == NON_ADMIN_CHECKS
    assert all("--user-token" in line for line in check_lines if line.startswith("SKIP"))
    assert summary == f"{len(CHECKS)} checks: {len(CHECKS) - 3} passed, 0 failed, 3 skipped"
    assert TEST_PASSWORD not in result.stdout


def test_a_wrong_metrics_token_fails_the_metrics_checks_by_name(stack: Stack, org: Org) -> None:
    wrong = "not-the-metrics-token-0123456789"
    result = validate(*stack_args(stack), "--metrics-token", wrong, "--admin-token", org.admin_token, "--json")
    report = report_of(result)
    assert result.returncode == 1
    assert report["passed"] is False
    failed = set(report["failed"])
    must_fail = {
        "metrics.bff_scrape_200",
        "metrics.kernel_scrape_200",
        "metrics.bff_route_labels_templates",
        "metrics.kernel_process_metrics",
        "debug.circuits_match_metrics",
        *(f"metrics.bff_family.{family}" for family in FAMILIES),
    }
    assert must_fail <= failed, must_fail - failed
    # Everything else still holds: only what needs the token fails.
    assert all(name.startswith("metrics.") or name == "debug.circuits_match_metrics" for name in failed), failed
    checks = by_name(report)
    assert "401" in checks["metrics.bff_scrape_200"]["detail"]
    for name in ("metrics.bff_wrong_token_401", "metrics.kernel_no_token_401", "headers.hsts", "trace.valid_continued"):
        assert checks[name]["passed"] is True, checks[name]
    assert wrong not in result.stdout


@pytest.fixture
def outage_stack(databases: Databases, tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own (its kernel is stopped), whose metrics token comes from the environment,
    with a breaker that opens after a few failed calls and stays open for the whole test."""
    env = {
        "CORNERSTONE_METRICS_TOKEN": "outage-metrics-token-for-validate",
        "CORNERSTONE_KERNEL_READ_TIMEOUT": "1.0",
        "CORNERSTONE_KERNEL_CONNECT_TIMEOUT": "0.5",
        "CORNERSTONE_KERNEL_BREAKER_MINIMUM_CALLS": "3",
        "CORNERSTONE_KERNEL_BREAKER_OPEN_SECONDS": "600",
    }
    with running_stack(databases, tmp_path, env) as stack:
        yield stack


def test_after_a_kernel_outage_the_recorded_errors_and_the_open_breaker_pass(outage_stack: Stack) -> None:
    stack = outage_stack
    org = new_org(stack)
    gp_token = org.token("gp")
    stack.kernel.stop()
    with org.client("gp") as gp, org.client("admin") as admin:

        def breaker_open() -> bool:
            gp.get("/api/deals")  # 503 KERNEL_UNAVAILABLE, a failed call on the kernel's breaker
            return any(c["state"] == "open" for c in admin.get("/api/debug/circuits").json()["circuits"])

        wait_until(breaker_open, 30, "the kernel breaker to open")
    stack.start_kernel()
    wait_until(
        lambda: httpx.get(f"{stack.bff.url}/readyz", timeout=5).status_code == 200, 30, "the BFF to be ready again"
    )

    result = validate(
        *stack_args(stack),
        "--admin-token",
        org.admin_token,
        "--user-token",
        gp_token,
        "--json",
        env={"CORNERSTONE_METRICS_TOKEN": stack.env["CORNERSTONE_METRICS_TOKEN"]},
    )
    report = report_of(result)
    assert result.returncode == 0, [c for c in report["checks"] if not c["passed"]]
    checks = by_name(report)
    assert checks["debug.circuits_kernel_breaker"]["detail"] == "kernel breaker open"
    assert checks["debug.circuits_match_metrics"]["detail"] == "kernel open"
    # The buffer holds the outage's 503s and failed kernel calls, made with the gp's token: scanned, clean.
    assert re.match(r"^\d+ items, nothing secret-looking$", checks["debug.errors_no_secrets"]["detail"])
    assert checks["debug.errors_limit_respected"]["detail"].startswith("limit=1 gave 1 item(s) of ")


class StandIn(ThreadingHTTPServer):
    """A bare HTTP server standing in for the BFF (and the kernel): it answers the probes and
    ``/api/me`` but has none of the headers, request ids or trace context, answers 404s as plain
    JSON, and its recent-errors list leaks a header, a token and an email."""

    daemon_threads = True
    hang_paths: frozenset[str] = frozenset()
    release = threading.Event()


LEAKED_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"
LEAKED_EMAIL = "lp@demo.test"


class StandInHandler(BaseHTTPRequestHandler):
    server: StandIn

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in self.server.hang_paths:
            self.server.release.wait(30)
        if path == "/healthz":
            self._answer(200, {"status": "ok"})
        elif path == "/readyz":
            self._answer(200, {"status": "ok", "database": "up", "kernel": "up"})
        elif path == "/api/me":
            self._answer(200, {"id": "u1", "role": "admin"})
        elif path == "/api/debug/errors":
            item = {
                "at": "2026-01-01T00:00:00Z",
                "request_id": "r1",
                "route": "/api/deals",
                "status": 500,
                "code": "INTERNAL_ERROR",
                "error": "unhandled ValueError",
                "headers": f"Authorization: Bearer {LEAKED_TOKEN}; From: {LEAKED_EMAIL}",
            }
            self._answer(200, {"items": [item]})
        else:
            self._answer(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._answer(404, {"detail": "Not Found"})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Powered-By", "Express")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_stand_in(hang_paths: frozenset[str] = frozenset()) -> tuple[StandIn, str]:
    server = StandIn(("127.0.0.1", 0), StandInHandler)
    server.hang_paths = hang_paths
    server.release = threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def stand_in() -> Iterator[str]:
    server, url = start_stand_in()
    yield url
    server.shutdown()
    server.server_close()


def test_a_server_without_the_contract_fails_those_checks_by_name(stand_in: str) -> None:
    result = validate(
        "--url", stand_in, "--kernel-url", stand_in, "--admin-token", "t" * 20, "--metrics-token", "m" * 20
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stdout.strip().splitlines()
    verdicts = {line.split()[1]: line.split()[0] for line in lines if line[:4] in {"PASS", "FAIL", "SKIP"}}
    for name in (
        "headers.csp_frame_ancestors",
        "headers.hsts",
        "headers.x_frame_options",
        "headers.nosniff",
        "headers.cache_control_no_store",
        "headers.no_server_version",
        "headers.no_x_powered_by",
        "request_id.valid_echoed",
        "request_id.generated",
        "request_id.problem_body_matches",
        "trace.valid_continued",
        "trace.generated",
        "trace.kernel_continued",
        "problems.unknown_path_404",
        "problems.unauthenticated_401",
        "rate_limit.policy_header",
        "metrics.bff_no_token_401",
        "debug.status_anonymous_401",
        "debug.errors_documented_keys",
        "debug.errors_no_secrets",
    ):
        assert verdicts.get(name) == "FAIL", (name, verdicts.get(name))
    for name in ("health.bff_healthz", "health.bff_readyz", "auth.admin_token"):
        assert verdicts.get(name) == "PASS", (name, verdicts.get(name))
    assert {name for name, verdict in verdicts.items() if verdict == "SKIP"} == NON_ADMIN_CHECKS
    assert lines[-1].startswith("failed: ")
    assert "headers.hsts" in lines[-1]
    line = next(line for line in lines if line.startswith("FAIL headers.no_server_version"))
    assert "BaseHTTP" in line  # the reason names what was seen
    leak = next(line for line in lines if line.startswith("FAIL debug.errors_no_secrets"))
    assert "a Bearer credential" in leak
    assert "a JWT-shaped value" in leak
    assert "an email address" in leak
    assert "item 0 has headers" in next(line for line in lines if line.startswith("FAIL debug.errors_documented_keys"))
    # A finding is named by kind; the leaked values themselves are never printed.
    assert LEAKED_TOKEN not in result.stdout
    assert LEAKED_EMAIL not in result.stdout


def test_every_request_has_a_timeout_and_a_hung_answer_costs_one(tmp_path: Path) -> None:
    server, url = start_stand_in(hang_paths=frozenset({"/api/me"}))
    try:
        started = time.monotonic()
        result = validate("--url", url, "--kernel-url", url, "--admin-token", "t" * 20, "--timeout", "0.5", "--json")
        elapsed = time.monotonic() - started
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
    report = report_of(result)
    assert result.returncode == 1
    checks = by_name(report)
    for name in ("auth.admin_token", "headers.hsts", "rate_limit.policy_header"):
        assert checks[name]["passed"] is False
        assert checks[name]["detail"] == "no answer within 0.5 s (ReadTimeout)", checks[name]
    # Every check that reads the hung answer shares one timeout, not one each.
    assert elapsed < 15, elapsed


def test_an_unreachable_bff_is_one_clear_line_and_exit_2() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = validate("--url", url, "--admin-token", "t" * 20, "--timeout", "2")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: the BFF at {url} does not answer (ConnectError)")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--url", "http://127.0.0.1:9"], "give an admin"),
        (["--url", "http://127.0.0.1:9", "--admin-email", "a@b.test"], "--admin-password"),
        (["--url", "ftp://127.0.0.1:9", "--admin-token", "t"], "http:// or https://"),
        (["--url", "http://127.0.0.1:9", "--admin-token", "t", "--user-email", "u@b.test"], "--user-password"),
        (["--url", "http://127.0.0.1:9", "--admin-token", "t", "--timeout", "0"], "--timeout"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], said: str) -> None:
    result = validate(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: "), result.stderr
    assert said in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_url_is_a_usage_error() -> None:
    result = validate("--admin-token", "t")
    assert result.returncode == 2
    assert "--url" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ('{"error": "Authorization: Bearer abc"}', ["a Bearer credential"]),
        ('{"error": "eyJhbGciOiJIUzI1NiJ9"}', ["a JWT-shaped value"]),
        ('{"error": "mail to ops@example.com failed"}', ["an email address"]),
        ('{"error": "ssn 123-45-6789"}', ["a tax-id-shaped number"]),
        ('{"error": "ein 12-3456789"}', ["a tax-id-shaped number"]),
        ('{"error": "tin 123456789"}', ["a tax-id-shaped number"]),
        ('{"error": "Password too weak"}', ["the word password"]),
        ('{"error": "uses s3cret-token-value here"}', ["a token or password given to this run"]),
    ],
)
def test_secret_findings_name_each_kind(text: str, kinds: list[str]) -> None:
    assert secret_findings(text, ["s3cret-token-value"]) == kinds


def test_ordinary_error_items_have_no_findings() -> None:
    # A hex request id holds digit runs, a timestamp and a status are numbers: none is a tax id.
    item = {
        "at": "2026-05-01T12:00:00.123Z",
        "request_id": "a309528540a541699e2e429dbc7981ab",
        "route": "/api/deals/{deal_id}",
        "status": 503,
        "code": "KERNEL_UNAVAILABLE",
        "error": "get_deal: ConnectError",
        "dependency": "kernel",
    }
    assert secret_findings(json.dumps(item), ["s3cret-token-value"]) == []


@pytest.mark.parametrize(
    ("route", "defect"),
    [
        ("/api/deals/{deal_id}", None),
        ("unmatched", None),
        ("/api/deals?stage=intake", "has a query string"),
        ("/api/deals/0123456789abcdef0123456789abcdef", "has an id segment"),
        ("/api/deals/3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e/history", "has an id segment"),
        ("/api/observability-check-feedface/x", "is a raw path this run requested"),
    ],
)
def test_route_label_defects(route: str, defect: str | None) -> None:
    assert route_label_defect(route, "feedface") == defect

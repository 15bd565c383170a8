"""``GET /api/debug/status``: how the running system is, measured when asked; admin only."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cornerstone import __version__
from cornerstone.bff.authz.permissions import Role
from tests.support import Databases, Org, new_org, running_stack


def test_an_admin_gets_the_version_uptime_and_each_dependency_measured(org: Org) -> None:
    with org.client("admin") as admin:
        first = admin.get("/api/debug/status")
        second = admin.get("/api/debug/status")
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"version", "uptime_seconds", "kernel", "database", "redis", "circuits"}
    assert body["version"] == __version__
    assert isinstance(body["uptime_seconds"], float)
    assert body["uptime_seconds"] >= 0
    assert second.json()["uptime_seconds"] >= body["uptime_seconds"]
    for dependency in ("kernel", "database"):
        assert body[dependency]["reachable"] is True
        assert isinstance(body[dependency]["latency_ms"], float)
        assert body[dependency]["latency_ms"] >= 0
    # The test stack shares no counters through Redis: not configured, nothing to reach.
    assert body["redis"] == {"configured": False, "reachable": None, "latency_ms": None, "backend": "memory"}
    # One breaker per outbound dependency: the kernel's, closed on a healthy stack.
    [kernel] = body["circuits"]
    assert set(kernel) == {
        "dependency",
        "state",
        "failure_rate",
        "slow_call_rate",
        "calls_in_window",
        "opened_at",
        "retry_in_seconds",
    }
    assert (kernel["dependency"], kernel["state"], kernel["opened_at"], kernel["retry_in_seconds"]) == (
        "kernel",
        "closed",
        None,
        None,
    )
    assert first.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("role", [role.value for role in Role if role != Role.ADMIN])
def test_every_other_role_is_refused(org: Org, role: str) -> None:
    with org.client(role) as client:
        answer = client.get("/api/debug/status")
    assert answer.status_code == 403
    assert answer.json()["code"] == "FORBIDDEN"


def test_without_a_token_it_is_a_401(org: Org) -> None:
    with org.stack.client() as anonymous:
        answer = anonymous.get("/api/debug/status")
    assert answer.status_code == 401
    assert "Bearer" in answer.headers["www-authenticate"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_stopped_kernel_and_an_unreachable_redis_are_reported(databases: Databases, tmp_path: Path) -> None:
    """Measured, not assumed: on a private stack whose Redis does not answer and whose kernel is then
    stopped, the status still answers 200 and says which dependency is down."""
    env = {
        "CORNERSTONE_REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0",
        "CORNERSTONE_REDIS_TIMEOUT_SECONDS": "0.2",
        "CORNERSTONE_KERNEL_CONNECT_TIMEOUT": "0.5",
        "CORNERSTONE_KERNEL_READ_TIMEOUT": "1.0",
    }
    with running_stack(databases, tmp_path, env) as stack:
        org = new_org(stack)
        stack.kernel.stop()
        with org.client("admin") as admin:
            answer = admin.get("/api/debug/status")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["kernel"] == {"reachable": False, "latency_ms": None}
    assert body["database"]["reachable"] is True
    assert body["redis"] == {"configured": True, "reachable": False, "latency_ms": None, "backend": "memory"}
    # The probe goes around the breaker (it asks "up now?"), so it alone never opens it.
    assert [(c["dependency"], c["state"]) for c in body["circuits"]] == [("kernel", "closed")]

"""Failure safety (ARCHITECTURE.md §3.7): a dead or hung kernel is a bounded 503 ``KERNEL_UNAVAILABLE``
with ``Retry-After`` (never a 500, never a hang), and the BFF recovers by itself when the kernel is back.

Each test runs a private stack with short kernel timeouts, so stopping its kernel touches no other test.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import assert_problem, get_deal, list_all_deals
from tests.support import Databases, Org, Stack, create_deal, new_org, running_stack, wait_until

RETRY_AFTER = "3"
OUTAGE_ENV = {
    "CORNERSTONE_KERNEL_READ_TIMEOUT": "1.0",
    "CORNERSTONE_KERNEL_CONNECT_TIMEOUT": "0.5",
    "CORNERSTONE_KERNEL_RETRY_AFTER": RETRY_AFTER,
}
DEAD_KERNEL_BOUND_S = 5.0
HUNG_KERNEL_BOUND_S = 4.0


@pytest.fixture
def private_stack(databases: Databases, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(databases, tmp_path, OUTAGE_ENV) as stack:
        yield stack


@pytest.fixture
def private_org(private_stack: Stack) -> Org:
    return new_org(private_stack)


def _timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _assert_kernel_unavailable(label: str, response: httpx.Response) -> None:
    assert response.status_code != 500, f"{label}: {response.text}"
    assert_problem(response, 503, "KERNEL_UNAVAILABLE")
    assert response.headers["retry-after"] == RETRY_AFTER, label
    # Nothing about the kernel's address or the transport error leaks to the client.
    assert "127.0.0.1" not in response.text
    assert "Error" not in response.json()["detail"]


def _kernel_calls(client: httpx.Client, deal_id: str) -> dict[str, Callable[[], httpx.Response]]:
    """Public calls that need the kernel."""
    return {
        "GET /api/deals": lambda: client.get("/api/deals"),
        "POST /api/deals": lambda: client.post("/api/deals", json={"name": "During Outage", "asset_class": "land"}),
        "GET /api/deals/{id}": lambda: client.get(f"/api/deals/{deal_id}"),
        "PATCH /api/deals/{id}": lambda: client.patch(f"/api/deals/{deal_id}", json={"units": 9, "version": 1}),
        "POST /api/deals/{id}/transitions": lambda: client.post(
            f"/api/deals/{deal_id}/transitions", json={"to": "underwriting", "version": 1}
        ),
        "GET /api/deals/{id}/history": lambda: client.get(f"/api/deals/{deal_id}/history"),
    }


def _readyz(stack: Stack) -> httpx.Response:
    with stack.client() as anonymous:
        return anonymous.get("/readyz")


def _wait_for_recovery(stack: Stack, client: httpx.Client) -> None:
    wait_until(lambda: client.get("/api/deals").status_code == 200, 30, "GET /api/deals to answer 200 again")
    wait_until(lambda: _readyz(stack).status_code == 200, 30, "/readyz to answer 200 again")


def test_a_killed_kernel_is_a_prompt_503_with_retry_after_and_the_bff_recovers_on_restart(
    private_stack: Stack, private_org: Org
) -> None:
    stack = private_stack
    with private_org.client("gp") as gp:
        deal = create_deal(gp, name="Survivor")
        assert _readyz(stack).status_code == 200

        stack.kernel.process.send_signal(signal.SIGKILL)
        stack.kernel.process.wait(timeout=10)

        for label, call in _kernel_calls(gp, deal["id"]).items():
            response, elapsed = _timed(call)
            _assert_kernel_unavailable(label, response)
            assert elapsed < DEAD_KERNEL_BOUND_S, f"{label} took {elapsed:.2f}s"

        ready = _readyz(stack)
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "database": "up", "kernel": "down"}
        # What does not need the kernel keeps working.
        assert gp.get("/api/me").status_code == 200
        with stack.client() as anonymous:
            assert anonymous.get("/healthz").status_code == 200

        stack.start_kernel()
        _wait_for_recovery(stack, gp)

        # Nothing sent during the outage was applied, and nothing from before was lost.
        assert [d["id"] for d in list_all_deals(gp)] == [deal["id"]]
        assert get_deal(gp, deal["id"]) == deal
        assert _readyz(stack).json() == {"status": "ok", "database": "up", "kernel": "up"}
        created = gp.post("/api/deals", json={"name": "After Outage", "asset_class": "land"})
        assert created.status_code == 201, created.text


def test_a_hung_kernel_is_a_503_within_the_read_timeout_and_the_bff_recovers_when_it_resumes(
    private_stack: Stack, private_org: Org
) -> None:
    stack = private_stack
    with private_org.client("gp") as gp:
        deal = create_deal(gp, name="Patience")
        pid = stack.kernel.process.pid
        os.kill(pid, signal.SIGSTOP)  # accepts connections (the listen backlog), never answers
        try:
            # Reads only: a write the kernel has buffered would be applied when it resumes.
            for label in ("GET /api/deals", "GET /api/deals/{id}", "GET /api/deals/{id}/history"):
                response, elapsed = _timed(_kernel_calls(gp, deal["id"])[label])
                _assert_kernel_unavailable(label, response)
                assert elapsed < HUNG_KERNEL_BOUND_S, f"{label} took {elapsed:.2f}s"
                assert elapsed >= 0.8, f"{label} answered in {elapsed:.2f}s: the kernel was not hung?"

            # Concurrent callers each time out on their own; they are not queued behind one another.
            with ThreadPoolExecutor(max_workers=5) as pool:
                started = time.monotonic()
                responses = list(pool.map(lambda _: gp.get("/api/deals"), range(5)))
                elapsed = time.monotonic() - started
            for response in responses:
                _assert_kernel_unavailable("concurrent GET /api/deals", response)
            assert elapsed < HUNG_KERNEL_BOUND_S, f"5 concurrent calls took {elapsed:.2f}s"

            ready, elapsed = _timed(lambda: _readyz(stack))
            assert ready.status_code == 503
            assert ready.json()["kernel"] == "down"
            assert elapsed < HUNG_KERNEL_BOUND_S
            with stack.client() as anonymous:
                health, elapsed = _timed(lambda: anonymous.get("/healthz"))
            assert health.status_code == 200
            assert elapsed < 1.0
        finally:
            os.kill(pid, signal.SIGCONT)

        _wait_for_recovery(stack, gp)
        assert get_deal(gp, deal["id"]) == deal

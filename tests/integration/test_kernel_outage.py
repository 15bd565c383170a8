"""Failure safety (ARCHITECTURE.md §3.7, API.md "Observability and failure safety"): a dead or hung
kernel is a bounded 503 ``KERNEL_UNAVAILABLE`` with ``Retry-After`` (never a 500, never a hang); the
kernel's circuit breaker then opens and answers at once without calling the kernel; when the kernel
is back, probes close it again, all of it visible in ``/metrics`` and ``/api/debug/circuits``; and
retries of lost answers never move money twice.

Each test runs a private stack with short kernel timeouts and a short breaker wait, so faulting its
kernel touches no other test.
"""

from __future__ import annotations

import os
import signal
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.faults import AnswerDroppingProxy
from tests.integration.helpers import (
    assert_problem,
    commit,
    create_fund,
    create_investor,
    get_deal,
    list_all_deals,
)
from tests.support import (
    Databases,
    Org,
    Stack,
    create_deal,
    free_port,
    new_org,
    running_stack,
    stack_env,
    start_server,
    wait_until,
)

READ_TIMEOUT_S = 1.0
OPEN_SECONDS = 3
METRICS_TOKEN = "outage-test-metrics-token"
OUTAGE_ENV = {
    "CORNERSTONE_KERNEL_READ_TIMEOUT": str(READ_TIMEOUT_S),
    "CORNERSTONE_KERNEL_CONNECT_TIMEOUT": "0.5",
    "CORNERSTONE_KERNEL_RETRY_AFTER": "3",
    "CORNERSTONE_KERNEL_BREAKER_WINDOW_SIZE": "10",
    "CORNERSTONE_KERNEL_BREAKER_MINIMUM_CALLS": "5",
    "CORNERSTONE_KERNEL_BREAKER_OPEN_SECONDS": str(OPEN_SECONDS),
    "CORNERSTONE_KERNEL_BREAKER_HALF_OPEN_CALLS": "2",
    "CORNERSTONE_METRICS_TOKEN": METRICS_TOKEN,
}
DEAD_KERNEL_BOUND_S = 5.0
# A hung kernel costs a caller one read timeout (the call's deadline is the read timeout), plus the
# BFF's own work for 20 concurrent callers on a shared machine.
HUNG_KERNEL_BOUND_S = READ_TIMEOUT_S + 2.0
OPEN_BREAKER_BOUND_S = 0.05


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
    # The configured 3 s, or while the breaker is open the whole seconds until its next probe.
    assert 1 <= int(response.headers["retry-after"]) <= OPEN_SECONDS, (label, response.headers["retry-after"])
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


def _circuit(admin: httpx.Client) -> dict[str, Any]:
    answer = admin.get("/api/debug/circuits")
    assert answer.status_code == 200, answer.text
    [kernel] = [c for c in answer.json()["circuits"] if c["dependency"] == "kernel"]
    return dict(kernel)


def _metrics(stack: Stack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The BFF's samples by (name, sorted labels)."""
    answer = httpx.get(f"{stack.bff.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status_code == 200, answer.text
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _sample(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _wait_for_recovery(stack: Stack, client: httpx.Client) -> None:
    wait_until(lambda: client.get("/api/deals").status_code == 200, 30, "GET /api/deals to answer 200 again")
    wait_until(lambda: _readyz(stack).status_code == 200, 30, "/readyz to answer 200 again")


def _assert_open_and_fast(stack: Stack, gp: httpx.Client, admin: httpx.Client, deal_id: str) -> None:
    """The breaker is open: refusals come at once, with Retry-After = seconds until the probe."""
    circuit = _circuit(admin)
    assert circuit["state"] == "open", circuit
    assert 0 < circuit["retry_in_seconds"] <= OPEN_SECONDS
    assert circuit["opened_at"] is not None
    assert circuit["failure_rate"] >= 0.5
    timings = []
    for _ in range(10):
        response, elapsed = _timed(lambda: gp.get(f"/api/deals/{deal_id}"))
        _assert_kernel_unavailable("open breaker", response)
        timings.append(elapsed)
    assert statistics.median(timings) < OPEN_BREAKER_BOUND_S, timings
    samples = _metrics(stack)
    assert _sample(samples, "cornerstone_circuit_state", dependency="kernel") == 2
    assert _sample(samples, "cornerstone_circuit_transitions_total", dependency="kernel", to="open") >= 1
    assert _sample(samples, "cornerstone_outbound_call_duration_seconds_count", dependency="kernel", outcome="rejected")
    assert _sample(samples, "cornerstone_outbound_call_duration_seconds_count", dependency="kernel", outcome="failure")


def _assert_closed_after_probes(stack: Stack, gp: httpx.Client, admin: httpx.Client) -> None:
    """Half-open, the breaker decides on its two probes: calls until it has had both close it."""
    wait_until(
        lambda: gp.get("/api/deals").status_code == 200 and _circuit(admin)["state"] == "closed",
        10,
        "the kernel's breaker to close",
    )
    samples = _metrics(stack)
    assert _sample(samples, "cornerstone_circuit_state", dependency="kernel") == 0
    for state in ("open", "half_open", "closed"):
        assert _sample(samples, "cornerstone_circuit_transitions_total", dependency="kernel", to=state) >= 1, state


def test_a_killed_kernel_is_a_prompt_503_then_the_breaker_opens_and_closes_after_restart(
    private_stack: Stack, private_org: Org
) -> None:
    stack = private_stack
    with private_org.client("gp") as gp, private_org.client("admin") as admin:
        deal = create_deal(gp, name="Survivor")
        assert _readyz(stack).status_code == 200
        assert _circuit(admin)["state"] == "closed"

        stack.kernel.process.send_signal(signal.SIGKILL)
        stack.kernel.process.wait(timeout=10)

        for label, call in _kernel_calls(gp, deal["id"]).items():
            response, elapsed = _timed(call)
            _assert_kernel_unavailable(label, response)
            assert elapsed < DEAD_KERNEL_BOUND_S, f"{label} took {elapsed:.2f}s"
        _assert_open_and_fast(stack, gp, admin, deal["id"])

        ready = _readyz(stack)
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "database": "up", "kernel": "down"}
        # What does not need the kernel keeps working.
        assert gp.get("/api/me").status_code == 200
        with stack.client() as anonymous:
            assert anonymous.get("/healthz").status_code == 200
        errors = admin.get("/api/debug/errors", params={"limit": 200}).json()["items"]
        outbound = [e for e in errors if e["dependency"] == "kernel"]
        assert outbound, errors
        assert {e["error"].split(": ")[1] for e in outbound} <= {"ConnectError", "ReadError", "RemoteProtocolError"}

        stack.start_kernel()
        _wait_for_recovery(stack, gp)
        _assert_closed_after_probes(stack, gp, admin)

        # Nothing sent during the outage was applied, and nothing from before was lost.
        assert [d["id"] for d in list_all_deals(gp)] == [deal["id"]]
        assert get_deal(gp, deal["id"]) == deal
        assert _readyz(stack).json() == {"status": "ok", "database": "up", "kernel": "up"}
        created = gp.post("/api/deals", json={"name": "After Outage", "asset_class": "land"})
        assert created.status_code == 201, created.text


@dataclass(frozen=True)
class Outcome:
    started: float
    elapsed: float
    status: int
    code: str | None


def test_a_hung_kernel_under_concurrent_load_opens_the_breaker_and_recovers_when_it_resumes(
    private_stack: Stack, private_org: Org
) -> None:
    stack = private_stack
    with private_org.client("gp") as gp, private_org.client("admin") as admin:
        deal = create_deal(gp, name="Patience")
        pid = stack.kernel.process.pid
        os.kill(pid, signal.SIGSTOP)  # accepts connections (the listen backlog), never answers
        began = time.monotonic()
        try:
            # Reads only: a write the kernel has buffered would be applied when it resumes.
            def reader(_: int) -> list[Outcome]:
                outcomes = []
                with private_org.client("gp") as client:
                    for _ in range(12):
                        started = time.monotonic()
                        response = client.get(f"/api/deals/{deal['id']}")
                        code = response.json().get("code") if response.status_code >= 400 else None
                        elapsed = time.monotonic() - started
                        outcomes.append(Outcome(started - began, elapsed, response.status_code, code))
                return outcomes

            with ThreadPoolExecutor(max_workers=20) as pool:
                per_caller = list(pool.map(reader, range(20)))

            outcomes = [o for batch in per_caller for o in batch]
            assert {(o.status, o.code) for o in outcomes} == {(503, "KERNEL_UNAVAILABLE")}
            # The first wave waits out one read timeout (the deadline: no retry after a timeout)...
            first_wave = [batch[0] for batch in per_caller]
            assert min(o.elapsed for o in first_wave) >= READ_TIMEOUT_S * 0.9
            assert max(o.elapsed for o in first_wave) < HUNG_KERNEL_BOUND_S, first_wave
            # ...and those failures open the breaker: from each caller's third call on, no call waits for
            # the kernel (20 callers at once share the BFF's core, so each is slower than one alone; one
            # alone is measured in _assert_open_and_fast).
            late = [o for batch in per_caller for o in batch[2:]]
            assert max(o.elapsed for o in late) < READ_TIMEOUT_S / 2, sorted(o.elapsed for o in late)
            _assert_open_and_fast(stack, gp, admin, deal["id"])
            with stack.client() as anonymous:
                health, elapsed = _timed(lambda: anonymous.get("/healthz"))
            assert health.status_code == 200
            assert elapsed < 1.0
        finally:
            os.kill(pid, signal.SIGCONT)

        _wait_for_recovery(stack, gp)
        _assert_closed_after_probes(stack, gp, admin)
        assert get_deal(gp, deal["id"]) == deal


def test_a_kernel_4xx_never_counts_against_it(private_org: Org) -> None:
    with private_org.client("gp") as gp, private_org.client("admin") as admin:
        for _ in range(15):
            assert gp.get(f"/api/deals/{uuid.uuid4().hex}").status_code == 404
        circuit = _circuit(admin)
    assert circuit["state"] == "closed"
    assert circuit["failure_rate"] == 0.0
    assert circuit["calls_in_window"] == 10


def test_an_unauthenticated_request_never_reaches_the_kernel(private_stack: Stack, private_org: Org) -> None:
    with private_org.client("admin") as admin:
        before = _circuit(admin)["calls_in_window"]
        with private_stack.client("not-a-token") as anonymous:
            for _ in range(5):
                assert anonymous.get("/api/deals").status_code == 401
        assert _circuit(admin)["calls_in_window"] == before


# --- retries never move money twice --------------------------------------------------------------


@pytest.fixture
def stack_behind_proxy(databases: Databases, tmp_path: Path) -> Iterator[tuple[Stack, AnswerDroppingProxy]]:
    """A stack whose BFF reaches its kernel through a proxy that loses the answers it is told to:
    while ``drops["left"]`` > 0, the first answer to each new capital-call POST (by its idempotency
    key, or its path when it has none) is lost."""
    drops: dict[str, Any] = {"left": 0, "seen": set()}

    def drop(method: str, path: str, headers: dict[str, str]) -> bool:
        path = path.split("?")[0]
        if method != "POST" or not path.endswith(("/capital-calls", "/issue")) or drops["left"] <= 0:
            return False
        attempt = headers.get("idempotency-key") or path
        if attempt in drops["seen"]:
            return False  # its retry goes through
        drops["seen"].add(attempt)
        drops["left"] -= 1
        return True

    env = stack_env(databases, OUTAGE_ENV)
    kernel_port = free_port()
    kernel = start_server("kernel", ["kernel"], env, kernel_port, tmp_path)
    proxy = AnswerDroppingProxy(kernel_port, drop)
    with proxy.running():
        env["CORNERSTONE_KERNEL_URL"] = proxy.url
        try:
            bff = start_server("bff", ["bff"], env, free_port(), tmp_path)
        except BaseException:
            kernel.stop()
            raise
        stack = Stack(databases, env, kernel, bff, tmp_path)
        stack.drops = drops  # type: ignore[attr-defined]
        try:
            yield stack, proxy
        finally:
            stack.stop()


def test_retried_money_posts_whose_answers_were_lost_move_the_money_once(
    stack_behind_proxy: tuple[Stack, AnswerDroppingProxy],
) -> None:
    stack, proxy = stack_behind_proxy
    org = new_org(stack)
    with org.client("admin") as admin:
        fund = create_fund(admin)
        investors = [create_investor(admin, name=f"LP {n}") for n in range(3)]
        for investor in investors:
            commit(admin, fund["id"], investor["id"], 1_000_000_00)
        retries_before = _sample(_metrics(stack), "cornerstone_retries_total", dependency="kernel")

        # The kernel's answers to the next three keyed POSTs are lost after it stored them: the
        # BFF retries each with the same key, and the kernel answers the stored outcome.
        stack.drops["left"] = 3  # type: ignore[attr-defined]
        keys = [uuid.uuid4().hex for _ in range(5)]
        created = []
        for n, key in enumerate(keys):
            body = {"fund_id": fund["id"], "amount": (n + 1) * 10_000_00, "due_date": "2026-03-31", "purpose": "capex"}
            answer = admin.post("/api/capital-calls", json=body, headers={"Idempotency-Key": key})
            assert answer.status_code == 201, answer.text
            created.append(answer.json())

        sent = [r for r in proxy.relayed if r.method == "POST" and r.path.endswith("/capital-calls")]
        assert [r.idempotency_key for r in sent] == [keys[0]] * 2 + [keys[1]] * 2 + [keys[2]] * 2 + keys[3:]
        assert sum(r.dropped for r in sent) == 3
        listed = admin.get("/api/capital-calls", params={"fund_id": fund["id"], "limit": 200}).json()["items"]
        # One call per key, each with the amount asked for, and the answers were the stored ones.
        assert sorted(c["amount"] for c in listed) == [10_000_00, 20_000_00, 30_000_00, 40_000_00, 50_000_00]
        assert len({c["id"] for c in listed}) == 5
        assert {c["id"] for c in created} == {c["id"] for c in listed}
        retries = _sample(_metrics(stack), "cornerstone_retries_total", dependency="kernel") - retries_before
        assert retries == 3

        # A write without a key is never retried: its lost answer is a 503, sent once.
        stack.drops["left"] = 1  # type: ignore[attr-defined]
        call_id = created[0]["id"]
        lost = admin.post(f"/api/capital-calls/{call_id}/issue")
        assert_problem(lost, 503, "KERNEL_UNAVAILABLE")
        issues = [r for r in proxy.relayed if r.path.endswith(f"/capital-calls/{call_id}/issue")]
        assert len(issues) == 1
        # It was applied once, as the kernel's own record says.
        assert admin.get(f"/api/capital-calls/{call_id}").json()["status"] == "issued"

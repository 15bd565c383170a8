"""A BFF killed mid-request frees its idempotency keys within seconds (API.md, cross-cutting rules,
"in-flight keys"), and the retry that follows moves the money once.

Each test runs its own kernel and two BFF processes on the same databases: BFF ``a`` starts a
money POST and is SIGKILLed while the POST waits for the kernel; BFF ``b`` is where the client
retries with the same ``Idempotency-Key``. The BFFs' lease is 2 s, so a claim nobody renews lapses
2 s after its last renewal at the latest.

- The kernel did the work, its answer held back (a proxy in front of the kernel, for ``a`` only):
  while ``a`` is alive, however long, a retry is 409 ``IDEMPOTENCY_IN_FLIGHT`` with ``Retry-After``;
  once ``a`` is dead, the retry claims the key within the lease, runs the action again, and the
  kernel answers with the capital call it stored: one call, the one the retry reports.
- The kernel hung (SIGSTOP) before it read ``a``'s request: ``a`` is killed, the kernel resumes, and
  the retry through ``b`` gets the outcome within seconds; whichever of the two attempts the
  kernel ran, the money moved once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cornerstone.bff.models import IdempotencyRecordRow
from cornerstone.kit.idempotency_keys import REPLAYED_HEADER
from tests.faults import AnswerDroppingProxy
from tests.integration.helpers import assert_problem, commit, create_fund, create_investor
from tests.support import Databases, Org, Server, Stack, free_port, new_org, stack_env, start_server, sync_engine

LEASE_SECONDS = 2
LEASES_ENV = {
    "CORNERSTONE_IDEMPOTENCY_LEASE_SECONDS": str(LEASE_SECONDS),
    # The held kernel call must be cut short by the SIGKILL, never by a timeout of the BFF's own.
    "CORNERSTONE_KERNEL_READ_TIMEOUT": "120",
    "CORNERSTONE_KERNEL_BREAKER_SLOW_CALL_SECONDS": "120",
}
# The retry must get its answer this soon after the kill: the lease, plus the BFF's and the
# kernel's work for one call on a shared machine.
FREED_WITHIN_S = LEASE_SECONDS + 3.0


@dataclass
class Pair:
    """A kernel, BFF ``a`` (to be killed) and BFF ``b`` (to retry on), and the proxy ``a`` goes through."""

    kernel: Server
    a: Server
    b: Server
    stack_a: Stack
    stack_b: Stack
    held: threading.Event  # the kernel answered the held POST; the answer is not relayed
    release: threading.Event  # let the proxy drop the held answer (``a`` is dead by then)
    hold_key: list[str]  # the Idempotency-Key whose kernel answer the proxy holds


@pytest.fixture
def pair(databases: Databases, tmp_path: Path) -> Iterator[Pair]:
    held, release, hold_key = threading.Event(), threading.Event(), [""]

    def hold(method: str, path: str, headers: dict[str, str]) -> bool:
        if method != "POST" or not hold_key[0] or headers.get("idempotency-key") != hold_key[0]:
            return False
        # The kernel has stored the capital call and answered. This runs on the proxy's own loop,
        # so blocking here holds the answer (and anything else BFF ``a`` would relay; it is about
        # to be killed) until the test lets go; then the answer is dropped.
        held.set()
        release.wait(timeout=120)
        return True

    env = stack_env(databases, LEASES_ENV)
    kernel_port = free_port()
    env["CORNERSTONE_KERNEL_URL"] = f"http://127.0.0.1:{kernel_port}"
    kernel = start_server("kernel", ["kernel"], env, kernel_port, tmp_path)
    servers = [kernel]
    proxy = AnswerDroppingProxy(kernel_port, hold)
    try:
        with proxy.running():
            a = start_server("bff-a", ["bff"], {**env, "CORNERSTONE_KERNEL_URL": proxy.url}, free_port(), tmp_path)
            servers.append(a)
            b = start_server("bff-b", ["bff"], env, free_port(), tmp_path)
            servers.append(b)
            try:
                yield Pair(
                    kernel,
                    a,
                    b,
                    Stack(databases, env, kernel, a, tmp_path),
                    Stack(databases, env, kernel, b, tmp_path),
                    held,
                    release,
                    hold_key,
                )
            finally:
                release.set()
    finally:
        for server in reversed(servers):
            server.stop()


def _fund_with_commitment(client: httpx.Client) -> dict[str, Any]:
    fund = create_fund(client, name=f"Lease Fund {uuid.uuid4().hex[:6]}")
    investor = create_investor(client, name="Lease Pension")
    commit(client, fund["id"], investor["id"], 1_000_000_00)
    return fund


def _calls(client: httpx.Client, fund_id: str) -> list[dict[str, Any]]:
    answer = client.get("/api/capital-calls", params={"fund_id": fund_id, "limit": 200})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def _post(client: httpx.Client, key: str, body: dict[str, Any]) -> httpx.Response:
    return client.post("/api/capital-calls", json=body, headers={"Idempotency-Key": key})


@contextmanager
def _in_background(call: Callable[[], httpx.Response]) -> Iterator[Future[httpx.Response]]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(call)


def _kill(server: Server) -> float:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    return time.monotonic()


def _retry_until_answered(client: httpx.Client, key: str, body: dict[str, Any], since: float) -> httpx.Response:
    """Retry as a client honouring ``Retry-After`` would (but polling faster), until the answer is
    not a 409 in flight; fails if that takes longer than ``FREED_WITHIN_S`` after ``since``."""
    while True:
        answer = _post(client, key, body)
        if answer.status_code != 409:
            return answer
        assert_problem(answer, 409, "IDEMPOTENCY_IN_FLIGHT")
        assert 1 <= int(answer.headers["retry-after"]) <= LEASE_SECONDS
        waited = time.monotonic() - since
        assert waited < FREED_WITHIN_S, f"the key was still in flight {waited:.1f}s after its BFF died"
        time.sleep(0.1)


def test_a_bff_killed_while_the_kernel_answer_is_held_frees_the_key_and_the_retry_gets_the_stored_call(
    pair: Pair,
) -> None:
    org = new_org(pair.stack_a)
    key = uuid.uuid4().hex
    pair.hold_key[0] = key
    with pair.stack_a.client(org.admin_token) as on_a, pair.stack_b.client(org.admin_token) as on_b:
        fund = _fund_with_commitment(on_a)
        body = {"fund_id": fund["id"], "amount": 25_000_00, "due_date": "2026-03-31", "purpose": "capex"}
        with _in_background(lambda: _post(on_a, key, body)) as first:
            assert pair.held.wait(timeout=30), "the first POST never reached the kernel"
            # The kernel has made the call; BFF a is alive and waiting for the answer. For three
            # leases and more, the key stays a's: a retry is refused, never run.
            [made] = _calls(on_b, fund["id"])
            alive_since = time.monotonic()
            while time.monotonic() - alive_since < 3 * LEASE_SECONDS + 0.5:
                refused = _post(on_b, key, body)
                assert_problem(refused, 409, "IDEMPOTENCY_IN_FLIGHT")
                assert 1 <= int(refused.headers["retry-after"]) <= LEASE_SECONDS
                time.sleep(0.2)

            killed_at = _kill(pair.a)
            with pytest.raises(httpx.TransportError):
                first.result(timeout=30)  # a's client never gets an answer: the money moved, it does not know

        retried = _retry_until_answered(on_b, key, body, killed_at)
        assert retried.status_code == 201, retried.text
        # BFF b ran the action again; the kernel, given the same key, answered with what it stored.
        assert REPLAYED_HEADER.lower() not in retried.headers
        assert retried.json()["id"] == made["id"]
        assert retried.json()["amount"] == 25_000_00
        assert [c["id"] for c in _calls(on_b, fund["id"])] == [made["id"]]

        replay = _post(on_b, key, body)
        assert (replay.status_code, replay.headers[REPLAYED_HEADER]) == (201, "true")
        assert replay.content == retried.content


def _claim_written(databases: Databases, org: Org, key: str) -> bool:
    engine = sync_engine(databases.bff_url)
    try:
        with engine.connect() as conn:
            state = conn.execute(
                select(IdempotencyRecordRow.state).where(
                    IdempotencyRecordRow.org_id == org.org_id, IdempotencyRecordRow.key == key
                )
            ).scalar_one_or_none()
    finally:
        engine.dispose()
    return state == "in_flight"


def test_a_bff_killed_while_the_kernel_hangs_frees_the_key_and_the_money_moves_once(
    pair: Pair, databases: Databases
) -> None:
    org = new_org(pair.stack_a)
    key = uuid.uuid4().hex
    with pair.stack_a.client(org.admin_token) as on_a, pair.stack_b.client(org.admin_token) as on_b:
        fund = _fund_with_commitment(on_a)
        body = {"fund_id": fund["id"], "amount": 40_000_00, "due_date": "2026-03-31", "purpose": "capex"}
        os.kill(pair.kernel.process.pid, signal.SIGSTOP)  # accepts connections, answers nothing
        try:
            with _in_background(lambda: _post(on_a, key, body)) as first:
                deadline = time.monotonic() + 30
                while not _claim_written(databases, org, key):
                    assert time.monotonic() < deadline, "BFF a never claimed the key"
                    assert not first.done(), first.result().text
                    time.sleep(0.05)
                refused = _post(on_b, key, body)
                assert_problem(refused, 409, "IDEMPOTENCY_IN_FLIGHT")
                killed_at = _kill(pair.a)
                with pytest.raises(httpx.TransportError):
                    first.result(timeout=30)
        finally:
            os.kill(pair.kernel.process.pid, signal.SIGCONT)

        retried = _retry_until_answered(on_b, key, body, killed_at)
        assert retried.status_code == 201, retried.text
        calls = _calls(on_b, fund["id"])
        assert [c["id"] for c in calls] == [retried.json()["id"]]
        assert calls[0]["amount"] == 40_000_00

        replay = _post(on_b, key, body)
        assert (replay.status_code, replay.headers[REPLAYED_HEADER]) == (201, "true")
        assert replay.content == retried.content

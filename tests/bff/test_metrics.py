"""The BFF's perimeter metrics: 429s by policy, ``/metrics`` outside every rate limit, and the
rate-limit storage's fallback gauge.

The BFF here is the real app (``create_app``, every middleware) with tight limits, under uvicorn in
a thread of the test process, on the session stack's databases and kernel; every call is real
HTTP from a loopback address of its own. The fallback gauge is followed on a ``CounterStore``
talking to a redis-server of the test's own, killed and started again.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from cornerstone.bff.app import create_app
from cornerstone.bff.ratelimit import CounterStore
from cornerstone.kit.settings import CommonSettings
from tests.bff.perimeter_support import CI, fresh_address
from tests.bff.test_rate_limits import PrivateRedis
from tests.support import Databases, Stack, free_port, logging_put_back, stack_bff_settings, wait_until

PER_MINUTE = 3
LOGIN_PER_MINUTE = 2


@pytest.fixture(scope="module")
def limited_url(stack: Stack) -> Iterator[str]:
    settings = stack_bff_settings(stack, rate_limit_per_minute=PER_MINUTE, login_rate_limit_per_minute=LOGIN_PER_MINUTE)
    # Building the app configures logging for a server process; the test process's is put back.
    with logging_put_back():
        app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="limited-bff", daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), 30, "the limited BFF to start")
    assert server.started, "the limited BFF ended before it started"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "the limited BFF did not stop"


def client_from(url: str, address: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=10.0, transport=httpx.HTTPTransport(local_address=address))


def refused(client: httpx.Client, token: str, policy: str) -> float:
    """``cornerstone_rate_limited_total{policy}`` as the app's own ``/metrics`` says it."""
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    for family in text_string_to_metric_families(answer.text):
        if family.name == "cornerstone_rate_limited":
            return sum(s.value for s in family.samples if s.name.endswith("_total") and s.labels["policy"] == policy)
    raise AssertionError("cornerstone_rate_limited_total is not exported")


def test_scrapes_spend_no_budget_and_each_429_counts_under_its_policy(limited_url: str, databases: Databases) -> None:
    token = CommonSettings(data_dir=databases.data_dir, metrics_token=None).resolved_metrics_token()
    with client_from(limited_url, fresh_address()) as scraper:
        before = refused(scraper, token, "default"), refused(scraper, token, "login")
        # Far more scrapes than the budget: none limited, none carrying a budget's fields.
        scrapes = [scraper.get("/metrics", headers={"Authorization": f"Bearer {token}"}) for _ in range(3 * PER_MINUTE)]
        assert [s.status_code for s in scrapes] == [200] * (3 * PER_MINUTE)
        assert not any("ratelimit" in s.headers for s in scrapes)
        # Nor a refused scrape: no token is not a budget either.
        assert scraper.get("/metrics").status_code == 401
        # The scraper's own address still has its whole budget for the API.
        answers = [scraper.get("/api/me") for _ in range(PER_MINUTE + 1)]
        assert [a.status_code for a in answers] == [401] * PER_MINUTE + [429]
        assert answers[-1].headers["ratelimit-policy"].startswith('"default"')
    with client_from(limited_url, fresh_address()) as signer:
        attempts = [
            signer.post("/api/auth/token", json={"email": f"{uuid.uuid4().hex}@example.test", "password": "wrong"})
            for _ in range(LOGIN_PER_MINUTE + 1)
        ]
        assert [a.status_code for a in attempts] == [401] * LOGIN_PER_MINUTE + [429]
    with client_from(limited_url, fresh_address()) as scraper:
        after = refused(scraper, token, "default"), refused(scraper, token, "login")
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def fallback_gauge() -> float | None:
    return REGISTRY.get_sample_value("cornerstone_rate_limit_storage_fallback")


def test_the_fallback_gauge_is_1_while_redis_is_down_and_0_once_it_is_back(tmp_path: Path) -> None:
    executable = shutil.which("redis-server")
    if executable is None:
        if CI:
            pytest.fail("redis-server is required under CI=true")
        pytest.skip("redis-server is not installed")
    redis_server = PrivateRedis(executable, free_port(), tmp_path / "redis")
    redis_server.start()

    async def scenario() -> list[float | None]:
        store = CounterStore(f"redis://127.0.0.1:{redis_server.port}/0", key_prefix=f"metrics-{uuid.uuid4().hex}")
        key = f"k-{uuid.uuid4().hex}"
        try:
            await store.add(key, 60)
            seen = [fallback_gauge()]
            redis_server.kill()
            await store.add(key, 60)  # refused: counted in memory instead
            seen.append(fallback_gauge())
            redis_server.start()
            # The store tries Redis again after its retry interval (seconds): poll until it has.
            deadline = time.monotonic() + 15
            while store.backend != "redis" and time.monotonic() < deadline:
                await store.add(key, 60)
                await asyncio.sleep(0.1)
            assert store.backend == "redis", "the store did not go back to Redis"
            seen.append(fallback_gauge())
            return seen
        finally:
            await store.aclose()

    try:
        assert asyncio.run(scenario()) == [0, 1, 0]
    finally:
        redis_server.kill()

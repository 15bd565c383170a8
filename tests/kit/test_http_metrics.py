"""HTTP metrics, ``/metrics`` and the database pool collector, on an app built by ``new_service_app``.

The app runs under uvicorn in a thread of the test process, so every call is real HTTP and the
counters read from the default registry are the ones the middleware incremented. Each app gets a
service name of its own, so its series are its test's alone.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from cornerstone.kit.db import Database
from cornerstone.kit.db_metrics import track_pool
from cornerstone.kit.metrics import DB_POOL_CONNECTIONS, DB_POOL_MAX_CONNECTIONS, FAMILIES
from cornerstone.kit.metrics_endpoint import install_metrics_endpoint
from cornerstone.kit.service_app import new_service_app
from tests.support import free_port, wait_until

TOKEN = "test-metrics-token-" + uuid.uuid4().hex

router = APIRouter()


@router.get("/widgets/{widget_id}")
async def read_widget(widget_id: str) -> dict[str, str]:
    return {"id": widget_id}


@router.get("/crash")
async def crash() -> None:
    raise RuntimeError("an unexpected failure")


def sample_app(service: str, database_path: Path) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = Database(f"sqlite:///{database_path}")
        app.state.metrics_token = TOKEN
        untrack = track_pool(service, app.state.database)
        yield
        untrack()
        await app.state.database.dispose()

    app = new_service_app(title="sample", service=service, openapi_url=None, lifespan=lifespan)
    app.include_router(router)
    install_metrics_endpoint(app)
    return app


@dataclass
class Running:
    service: str
    url: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0)

    def requests(self, method: str, route: str, status: int) -> float:
        labels = {"service": self.service, "method": method, "route": route, "status": str(status)}
        return REGISTRY.get_sample_value("cornerstone_http_requests_total", labels) or 0.0

    def timed(self, method: str, route: str) -> float:
        labels = {"service": self.service, "method": method, "route": route}
        return REGISTRY.get_sample_value("cornerstone_http_request_duration_seconds_count", labels) or 0.0


@contextmanager
def serving(app: FastAPI, service: str) -> Iterator[Running]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"metrics-{service}", daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), 30, "the sample server to start")
    assert server.started, "the sample server ended before it started"
    try:
        yield Running(service, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "the sample server did not stop"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    service = f"sample-{uuid.uuid4().hex[:8]}"
    database_path = tmp_path_factory.mktemp("metrics") / "sample.sqlite3"
    with serving(sample_app(service, database_path), service) as server:
        yield server


def test_a_request_counts_under_its_route_template_not_its_path(running: Running) -> None:
    before = running.requests("GET", "/widgets/{widget_id}", 200), running.timed("GET", "/widgets/{widget_id}")
    with running.client() as client:
        assert client.get("/widgets/a-1").status_code == 200
        assert client.get("/widgets/b-2").status_code == 200
    after = running.requests("GET", "/widgets/{widget_id}", 200), running.timed("GET", "/widgets/{widget_id}")
    assert (after[0] - before[0], after[1] - before[1]) == (2, 2)
    assert running.requests("GET", "/widgets/a-1", 200) == 0


def test_unknown_paths_count_as_unmatched_and_never_as_a_series_of_their_own(running: Running) -> None:
    typed = f"/no-such-{uuid.uuid4().hex}"
    before = running.requests("GET", "unmatched", 404)
    with running.client() as client:
        assert client.get(typed).status_code == 404
        assert client.get(typed + "/deeper").status_code == 404
        exposition = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert running.requests("GET", "unmatched", 404) - before == 2
    assert typed not in exposition


def test_a_crash_counts_as_the_500_the_client_got(running: Running) -> None:
    before = running.requests("GET", "/crash", 500)
    with running.client() as client:
        answer = client.get("/crash")
    assert answer.status_code == 500
    assert answer.json()["code"] == "INTERNAL_ERROR"
    assert running.requests("GET", "/crash", 500) - before == 1


def test_a_method_outside_the_standard_ones_counts_as_other(running: Running) -> None:
    before = running.requests("other", "/widgets/{widget_id}", 405)
    with running.client() as client:
        assert client.request("PROPFIND", "/widgets/pot").status_code == 405
    assert running.requests("other", "/widgets/{widget_id}", 405) - before == 1
    assert running.requests("PROPFIND", "/widgets/{widget_id}", 405) == 0


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", b"Bearer \xe9t\xe9"],
    ids=["none", "wrong", "other-scheme", "longer", "empty", "latin-1"],
)
def test_metrics_without_the_token_is_a_401_problem(running: Running, authorization: str | bytes | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with running.client() as client:
        answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["www-authenticate"] == "Bearer"
    body = answer.json()
    assert (body["status"], body["code"]) == (401, "UNAUTHORIZED")
    assert "cornerstone_" not in answer.text
    assert running.requests("GET", "/metrics", 401) >= 1


def test_metrics_with_the_token_is_the_registry_as_prometheus_text(running: Running) -> None:
    with running.client() as client:
        client.get("/widgets/w")
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    families = {family.name: family for family in text_string_to_metric_families(answer.text)}
    # The parser names counters without `_total`.
    assert "cornerstone_http_requests" in families
    assert "cornerstone_http_request_duration_seconds" in families
    assert {"process_resident_memory_bytes", "process_cpu_seconds"} <= families.keys()
    assert set(FAMILIES) >= {DB_POOL_CONNECTIONS, DB_POOL_MAX_CONNECTIONS}
    pool = {
        sample.labels["state"]: sample.value
        for sample in families[DB_POOL_CONNECTIONS].samples
        if sample.labels["service"] == running.service
    }
    assert set(pool) == {"checked_out", "idle"}
    maximum = [s.value for s in families[DB_POOL_MAX_CONNECTIONS].samples if s.labels["service"] == running.service]
    assert maximum == [30.0]  # two SQLite engines, each a QueuePool of 5 plus 10 overflow


def test_the_pool_collector_follows_the_apps_lifespan(tmp_path: Path) -> None:
    service = f"lifespan-{uuid.uuid4().hex[:8]}"

    def pool_gauge() -> float | None:
        return REGISTRY.get_sample_value(DB_POOL_MAX_CONNECTIONS, {"service": service})

    assert pool_gauge() is None
    with serving(sample_app(service, tmp_path / "lifespan.sqlite3"), service) as server:
        assert pool_gauge() == 30.0
        with server.client() as client:
            assert client.get("/widgets/x").status_code == 200
    assert pool_gauge() is None, "a stopped app's pools are still exported"


def test_pool_stats_count_checked_out_and_idle_connections(tmp_path: Path) -> None:
    async def scenario() -> list[tuple[int, int]]:
        database = Database(f"sqlite:///{tmp_path / 'stats.sqlite3'}")
        seen = [(database.pool_stats().checked_out, database.pool_stats().idle)]
        async with database.read_engine.connect():
            seen.append((database.pool_stats().checked_out, database.pool_stats().idle))
        seen.append((database.pool_stats().checked_out, database.pool_stats().idle))
        await database.dispose()
        return seen

    assert asyncio.run(scenario()) == [(0, 0), (1, 0), (0, 1)]

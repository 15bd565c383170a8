"""How the kernel client reads the kernel's answers, against a real HTTP server standing in for the
kernel: what goes on the wire (path, query and JSON body encoded as the kernel expects, whatever the
client typed), and which server errors are outages (502/503/504: retried when the call may be,
counted by the breaker, a 503 for the client) and which are the kernel's answer to this one request
(a 500: once, not counted, a 500 with the request id)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cornerstone.bff.auth.dependencies import Principal
from cornerstone.bff.kernel_client.client import KernelClient, KernelFailed, KernelUnavailable
from cornerstone.kit.problems import AppError
from cornerstone.kit.resilience import BreakerSettings, RetryPolicy
from tests.support import Served

CALLER = Principal(user_id="u1", org_id="org1", role="gp", email="gp@example.test", investor_id=None)
SERVICE_KEY = "k" * 32


def _fake_kernel(hits: Counter[str]) -> FastAPI:
    app = FastAPI()

    @app.api_route("/kernel/v1/orgs/{org_id}/{rest:path}", methods=["GET", "POST"])
    async def answer(org_id: str, rest: str, request: Request) -> JSONResponse:
        hits[rest] += 1
        if rest == "crash":
            return JSONResponse({"code": "INTERNAL_ERROR", "title": "Internal server error"}, status_code=500)
        if rest == "corrupt":
            return JSONResponse({"code": "ARTIFACT_CORRUPT", "title": "Artifact corrupt"}, status_code=500)
        if rest in {"down", "gateway", "gateway-timeout"}:
            status = {"down": 503, "gateway": 502, "gateway-timeout": 504}[rest]
            return JSONResponse({"code": "DOWN"}, status_code=status)
        return JSONResponse(
            {
                "org_id": org_id,
                "raw_path": request.scope["raw_path"].decode(),
                "path": rest,
                "query": dict(request.query_params),
                "body": (await request.body()).decode(),
                "content_type": request.headers.get("content-type"),
                "authorized": request.headers.get("authorization", "").startswith("Bearer "),
            }
        )

    return app


@pytest.fixture(scope="module")
def kernel() -> Iterator[tuple[Served, Counter[str]]]:
    hits: Counter[str] = Counter()
    with Served(_fake_kernel(hits)) as served:
        yield served, hits


def _call(url: str, method: str, path: str, **options: Any) -> tuple[Any, KernelClient]:
    async def main() -> tuple[Any, KernelClient]:
        client = KernelClient(
            url,
            SERVICE_KEY,
            connect_timeout=2.0,
            read_timeout=5.0,
            retry_after=2,
            breaker=BreakerSettings(window_size=10, minimum_calls=10),
            retry=RetryPolicy(attempts=3, backoff_seconds=0.01, deadline_seconds=5.0),
        )
        try:
            try:
                return await client.request(method, path, CALLER, **options), client
            except AppError as exc:
                return exc, client
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_path_query_and_body_reach_the_kernel_encoded(kernel: tuple[Served, Counter[str]]) -> None:
    served, _ = kernel
    answer, _ = _call(
        served.url,
        "POST",
        "/deals/a b?c#d%e/ü",
        params={"q": "Tower & Co", "limit": 5, "flag": True, "absent": None},
        json={"name": "Tour Eiffel – Ünit", "units": 3},
    )
    assert answer["path"] == "deals/a b?c#d%e/ü"  # every character arrived as the client typed it
    assert answer["raw_path"] == "/kernel/v1/orgs/org1/deals/a%20b%3Fc%23d%25e/%C3%BC"
    assert answer["query"] == {"q": "Tower & Co", "limit": "5", "flag": "true"}
    assert answer["body"] == '{"name":"Tour Eiffel – Ünit","units":3}'
    assert answer["content_type"] == "application/json"
    assert answer["authorized"] is True


def test_a_kernel_500_is_the_answer_to_this_request_not_an_outage(kernel: tuple[Served, Counter[str]]) -> None:
    served, hits = kernel
    before = hits["crash"]
    error, client = _call(served.url, "GET", "/crash")
    assert isinstance(error, KernelFailed)
    assert (error.status, error.code) == (500, "INTERNAL_ERROR")
    assert "request id" in str(error)
    assert hits["crash"] - before == 1  # a read, yet not retried: the same request gets the same answer
    snapshot = client.resilience.breaker.snapshot()
    assert snapshot.failure_rate == 0.0  # one client's failing request must not open the breaker for all


@pytest.mark.parametrize("path", ["down", "gateway", "gateway-timeout"])
def test_502_503_504_are_outages_retried_and_counted(kernel: tuple[Served, Counter[str]], path: str) -> None:
    served, hits = kernel
    before = hits[path]
    error, client = _call(served.url, "GET", f"/{path}")
    assert isinstance(error, KernelUnavailable)
    assert error.status == 503
    assert hits[path] - before == 3  # every attempt of the policy
    assert client.resilience.breaker.snapshot().failure_rate == 1.0


def test_a_keyless_write_meeting_an_outage_is_sent_once(kernel: tuple[Served, Counter[str]]) -> None:
    served, hits = kernel
    before = hits["down"]
    error, _ = _call(served.url, "POST", "/down", json={})
    assert isinstance(error, KernelUnavailable)
    assert hits["down"] - before == 1


def test_artifact_corrupt_passes_through_as_the_finding_it_is(kernel: tuple[Served, Counter[str]]) -> None:
    served, _ = kernel
    error, client = _call(served.url, "GET", "/corrupt")
    assert isinstance(error, AppError)
    assert (error.status, error.code) == (500, "ARTIFACT_CORRUPT")
    assert client.resilience.breaker.snapshot().failure_rate == 0.0

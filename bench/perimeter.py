"""What the security perimeter, and the observability layers, cost an authenticated read.

Starts one real kernel and two BFFs as subprocesses, set up identically (same settings, same
databases, same kernel, same uvicorn) except that one is built with ``create_app(perimeter=True)``
(client address, CORS, rate limits, CSRF, body limits) and the other with ``perimeter=False``.
Then, in the same run, drives ``GET /api/deals/{id}`` with one user's bearer token through each,
``--requests`` requests from ``--concurrency`` concurrent clients, alternating for ``--rounds``
rounds after a warm-up, and prints requests/s, p50 and p99 of each and the throughput ratio.

The limiter counts every request (a per-user quota far above the load, so nothing is refused):
what is measured is the work it does, not refusals. ``--redis-url`` counts in Redis instead of
memory.

Then the breaker, metrics and tracing: what each adds per call, measured in-process in the same
run (the kernel call through ``kit.resilience`` against the same call made directly; an answer
through the HTTP metrics middleware against the same app without it; parsing and writing the
``traceparent`` headers), summed for one read (the breaker once, metrics and tracing in both
services) and set against one read's share of the measured throughput (1 / requests per second).
Target: at most 5 %.

    .venv/bin/python bench/perimeter.py [--requests 2000] [--concurrency 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from servers import free_port, run, serving

TARGET_COST = 0.15
OBSERVABILITY_TARGET = 0.05
PASSWORD = secrets.token_urlsafe(16)


@dataclass
class Round:
    requests: int
    seconds: float
    latencies: list[float]
    failures: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def _drive(url: str, token: str, path: str, total: int, concurrency: int) -> Round:
    latencies: list[float] = []
    failures: dict[int, int] = {}
    pending = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=30.0
    ) as client:

        async def one_client() -> None:
            for _ in pending:
                started = time.perf_counter()
                response = await client.get(path)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    failures[response.status_code] = failures.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Round(total, elapsed, latencies, failures)


def _mean_seconds(body: Callable[[], Awaitable[object]], calls: int) -> float:
    async def loop() -> float:
        for _ in range(calls // 10):  # warm-up
            await body()
        started = time.perf_counter()
        for _ in range(calls):
            await body()
        return (time.perf_counter() - started) / calls

    return asyncio.run(loop())


def observability_costs(calls: int) -> dict[str, float]:
    """Seconds each layer adds to one call, measured against the same work without it."""
    from cornerstone.kit.http_metrics import HttpMetricsMiddleware
    from cornerstone.kit.resilience import BreakerSettings, Resilience, RetryPolicy
    from cornerstone.kit.tracing import accept_or_new_trace

    async def send(_budget: float) -> int:
        return 200

    resilience = Resilience("bench", BreakerSettings(), RetryPolicy())
    direct = _mean_seconds(lambda: send(1.0), calls)
    guarded = _mean_seconds(lambda: resilience.call(send, idempotent=True, operation="GET"), calls)

    async def app(_scope: Any, _receive: Any, send_message: Any) -> None:
        await send_message({"type": "http.response.start", "status": 200, "headers": []})
        await send_message({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def discard(_message: Any) -> None:
        return None

    class Route:
        path = "/api/deals/{deal_id}"

    scope = {"type": "http", "method": "GET", "path": "/api/deals/x", "route": Route()}
    measured = HttpMetricsMiddleware(app, service="bench")
    bare_app = _mean_seconds(lambda: app(scope, receive, discard), calls)
    with_metrics = _mean_seconds(lambda: measured(scope, receive, discard), calls)

    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    async def trace() -> None:
        context = accept_or_new_trace(incoming)
        context.header()
        context.child_header()

    async def nothing() -> None:
        return None

    tracing = _mean_seconds(trace, calls) - _mean_seconds(nothing, calls)
    return {
        "breaker + retry loop (once)": max(0.0, guarded - direct),
        "HTTP metrics (x2 services)": 2 * max(0.0, with_metrics - bare_app),
        "traceparent (x2 services)": 2 * max(0.0, tracing),
    }


def serve(perimeter: bool, port: int) -> None:
    """Child process: one BFF, built with or without the perimeter, under uvicorn."""
    from cornerstone.bff.app import create_app
    from cornerstone.bff.config import BffSettings
    from cornerstone.kit.service_app import serve as serve_app

    serve_app(create_app(BffSettings(), perimeter=perimeter), "127.0.0.1", port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--redis-url", default=None, help="count in Redis (e.g. redis://127.0.0.1:6379/15)")
    parser.add_argument("--log-level", default="INFO", help="BFF and kernel log level (INFO: one line per request)")
    parser.add_argument("--observability-calls", type=int, default=20000)
    parser.add_argument("--serve", choices=["with", "without"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve == "with", args.port)
        return

    with tempfile.TemporaryDirectory(prefix="cs-bench-") as tmp:
        data_dir = Path(tmp)
        kernel_port, with_port, without_port = free_port(), free_port(), free_port()
        env = {
            **os.environ,
            "CORNERSTONE_DATA_DIR": str(data_dir),
            "CORNERSTONE_SERVICE_KEY": secrets.token_urlsafe(32),
            "CORNERSTONE_JWT_SIGNING_KEY": secrets.token_urlsafe(32),
            "CORNERSTONE_KERNEL_URL": f"http://127.0.0.1:{kernel_port}",
            "CORNERSTONE_LOG_LEVEL": args.log_level,
            "CORNERSTONE_RATE_LIMIT_PER_MINUTE": "100000000",
            "PYTHONUNBUFFERED": "1",
        }
        if args.redis_url:
            env["CORNERSTONE_REDIS_URL"] = args.redis_url
            env["CORNERSTONE_REDIS_KEY_PREFIX"] = f"cs-bench-{secrets.token_hex(4)}"
        cli = [sys.executable, "-m", "cornerstone"]
        run([*cli, "migrate"], env)
        org = ["org", "create", "--name", "Bench Capital", "--admin-email", "bench@example.test"]
        run([*cli, *org, "--password", PASSWORD], env)
        me = [sys.executable, str(Path(__file__).resolve()), "--serve"]
        with (
            serving([*cli, "kernel", "--port", str(kernel_port)], env, kernel_port, data_dir / "kernel.log"),
            serving([*me, "with", "--port", str(with_port)], env, with_port, data_dir / "with.log") as with_url,
            serving(
                [*me, "without", "--port", str(without_port)], env, without_port, data_dir / "without.log"
            ) as without_url,
        ):
            token = httpx.post(
                f"{with_url}/api/auth/token", json={"email": "bench@example.test", "password": PASSWORD}
            ).json()["access_token"]
            deal = httpx.post(
                f"{with_url}/api/deals",
                json={"name": "Bench Tower", "asset_class": "office", "units": 120},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            path = f"/api/deals/{deal['id']}"
            probe = httpx.get(f"{with_url}{path}", headers={"Authorization": f"Bearer {token}"})
            assert "ratelimit" in probe.headers, "the perimeter BFF must carry the rate-limit fields"
            bare = httpx.get(f"{without_url}{path}", headers={"Authorization": f"Bearer {token}"})
            assert "ratelimit" not in bare.headers, "the bare BFF must not run the perimeter"

            print(
                f"GET {'/api/deals/{id}'} as one signed-in user: {args.requests} requests x {args.concurrency} "
                f"concurrent clients, {args.rounds} alternating rounds after {args.warmup} warm-up requests each; "
                f"SQLite, kernel subprocess, counters in {'Redis' if args.redis_url else 'memory'}, "
                f"log level {args.log_level}, {os.cpu_count()} CPUs"
            )
            variants = {"without perimeter": without_url, "with perimeter": with_url}
            for url in variants.values():
                asyncio.run(_drive(url, token, path, args.warmup, args.concurrency))
            rounds: dict[str, list[Round]] = {name: [] for name in variants}
            for number in range(1, args.rounds + 1):
                order = list(variants.items()) if number % 2 else list(reversed(variants.items()))
                for name, url in order:
                    result = asyncio.run(_drive(url, token, path, args.requests, args.concurrency))
                    rounds[name].append(result)
                    print(
                        f"  round {number}  {name:<18} {result.rate:8.1f} req/s   "
                        f"p50 {result.percentile(0.50):6.2f} ms   p99 {result.percentile(0.99):6.2f} ms"
                        + (f"   non-200: {result.failures}" if result.failures else "")
                    )

    print("median over rounds:")
    summary: dict[str, tuple[float, float, float]] = {}
    for name, results in rounds.items():
        rate = statistics.median(r.rate for r in results)
        p50 = statistics.median(r.percentile(0.50) for r in results)
        p99 = statistics.median(r.percentile(0.99) for r in results)
        summary[name] = (rate, p50, p99)
        print(f"  {name:<18} {rate:8.1f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    ratio = summary["with perimeter"][0] / summary["without perimeter"][0]
    cost = 1 - ratio
    verdict = "within" if cost <= TARGET_COST else "OVER"
    print(
        f"throughput with/without: {ratio:.3f} -> the perimeter costs {cost * 100:.1f} % of read throughput "
        f"({verdict} the {TARGET_COST * 100:.0f} % target)"
    )

    read_seconds = 1 / summary["with perimeter"][0]
    costs = observability_costs(args.observability_calls)
    print(f"observability per read ({args.observability_calls} in-process calls each, same run):")
    for name, seconds in costs.items():
        print(f"  {name:<30} {seconds * 1e6:8.1f} us")
    total = sum(costs.values())
    share = total / read_seconds
    verdict = "PASS" if share <= OBSERVABILITY_TARGET else "FAIL"
    print(
        f"  {'total':<30} {total * 1e6:8.1f} us of {read_seconds * 1e6:.0f} us per read (1 / req/s with perimeter) "
        f"-> {share * 100:.2f} % ({verdict}: target <= {OBSERVABILITY_TARGET * 100:.0f} %)"
    )


if __name__ == "__main__":
    main()

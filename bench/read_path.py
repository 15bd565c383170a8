"""What an authenticated read costs end to end, against a bare FastAPI endpoint on the same machine.

Starts, as real uvicorn processes, a kernel and a BFF as ``cornerstone up`` runs them
(``python -m cornerstone kernel`` / ``bff``, a fresh data dir, SQLite by default) and a bare FastAPI
app answering a small JSON dict, served by the same ``kit.service_app.serve`` (same uvicorn
settings). One org, one user, one deal are created through the API. Then, for each of the two:

- the single-request median: ``--sequential`` requests one after another on one kept-alive
  connection (after a warm-up);
- a load run (``--rounds`` of them, alternating, judged on the median round): ``--connections``
  kept-alive connections for ``--seconds`` seconds, closed loop,
  by ``wrk`` when ``/usr/bin/wrk`` exists (one thread by default: the machine's cores are shared
  with the servers), else by the asyncio load generator in this file run as a separate process.
  Printed: requests/s, p50 and p99 latency, and the answers that were not 2xx (wrk: status >= 400,
  plus socket errors);
- the CPU time the BFF and the kernel spent per authenticated read during its load runs (from
  ``/proc/<pid>/stat``): unlike throughput, hardly moved by other work on a shared machine, so it
  is the figure to compare between two versions of the code.

The authenticated read is ``GET /api/deals/{id}`` with a bearer token: BFF perimeter and token
check, a service-token call to the kernel, the kernel's database read. The bare endpoint is
``GET /bare``. The verdict compares them with the goals: throughput ratio >= 0.20, p99 <= 20 ms,
no non-2xx answer.

``--db postgres`` puts both services' databases on the PostgreSQL server at 127.0.0.1:5432 (user
``postgres``, trust auth): each run creates its own databases, an owner role for migrations and app
login roles (so row-level security applies, as in production) and drops them at the end.
``--redis-url`` gives the BFF a Redis (rate-limit counters and the token check's generations).

    .venv/bin/python bench/read_path.py [--seconds 10] [--rounds 1] [--connections 32] [--db sqlite|postgres]
        [--redis-url redis://127.0.0.1:6379/15] [--load auto|wrk|python] [--sequential 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from servers import cpu_seconds, free_port, run, serving, serving_process

READ = "GET /api/deals/{id}"
GOAL_RATIO = 0.20
GOAL_P99_MS = 20.0
WRK = "/usr/bin/wrk"
PASSWORD = secrets.token_urlsafe(16)
PG_ADMIN_DSN = os.environ.get("CORNERSTONE_BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL_BASE = "postgresql://{user}:{password}@127.0.0.1:5432/{database}"

# wrk's own summary as one JSON line (latencies in microseconds); read back by _wrk().
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status_errors":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
"""


@dataclass
class Load:
    """One closed-loop load run."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: int
    detail: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# --- the load generators --------------------------------------------------------------------------


def _wrk(url: str, headers: dict[str, str], connections: int, seconds: float, threads: int, scratch: Path) -> Load:
    script = scratch / "summary.lua"
    script.write_text(WRK_SCRIPT)
    args = [WRK, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    completed = subprocess.run([*args, "-s", str(script), url], capture_output=True, text=True, check=True)
    summary = json.loads(next(line for line in completed.stdout.splitlines() if line.startswith("{")))
    errors = {
        name: int(summary[name])
        for name in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
        if summary[name]
    }
    return Load(
        requests=int(summary["requests"]),
        seconds=summary["duration_us"] / 1e6,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        failures=sum(errors.values()),
        detail=errors,
    )


async def _python_load(url: str, headers: dict[str, str], connections: int, seconds: float) -> dict[str, object]:
    """Closed loop over ``connections`` raw HTTP/1.1 keep-alive connections (no client library on the
    hot path, so the generator costs as little CPU as Python allows)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    deadline = time.perf_counter() + seconds

    async def one_connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]

    def percentile(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    failures = {str(code): count for code, count in statuses.items() if not 200 <= code < 300}
    if errors:
        failures["socket_errors"] = errors
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "failures": failures,
    }


def _python(url: str, headers: dict[str, str], connections: int, seconds: float) -> Load:
    """The asyncio generator in a process of its own (so it does not share a server's event loop)."""
    args = [sys.executable, str(Path(__file__).resolve()), "--generate", url, "--connections", str(connections)]
    args += ["--seconds", str(seconds), "--headers", json.dumps(headers)]
    completed = subprocess.run(args, capture_output=True, text=True, check=True)
    result = json.loads(completed.stdout)
    failures: dict[str, int] = result["failures"]
    return Load(
        requests=result["requests"],
        seconds=result["seconds"],
        p50_ms=result["p50_ms"],
        p99_ms=result["p99_ms"],
        failures=sum(failures.values()),
        detail=failures,
    )


def sequential_median(url: str, headers: dict[str, str], count: int) -> float:
    """Median milliseconds of ``count`` requests sent one after another on one connection."""
    with httpx.Client(headers=headers, timeout=30.0) as client:
        for _ in range(max(20, count // 10)):
            client.get(url)
        timings = []
        for _ in range(count):
            started = time.perf_counter()
            response = client.get(url)
            timings.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"GET {url} answered {response.status_code}: {response.text[:300]}")
    return statistics.median(timings) * 1000


# --- the servers ----------------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    """Child process: a bare FastAPI app, under the same uvicorn settings as the services."""
    from fastapi import FastAPI

    from cornerstone.kit.service_app import serve

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    body = {"id": "01JBENCH0000000000000000000", "name": "Bench Tower", "stage": "sourcing", "version": 1}

    @app.get("/bare")
    async def bare() -> dict[str, object]:
        return body

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    serve(app, "127.0.0.1", port)


@contextmanager
def postgres_databases() -> Iterator[dict[str, str]]:
    """Databases of this run's own on the local PostgreSQL, with an owner role (migrations, operator
    commands) and login roles in the services' app groups (row-level security applies to them)."""
    import psycopg

    from cornerstone.bff.migrations import DATABASE_APP_ROLE as BFF_APP_ROLE
    from cornerstone.kernel.migrations import DATABASE_APP_ROLE as KERNEL_APP_ROLE

    suffix = secrets.token_hex(5)
    names = {who: f"cs_bench_{who}_{suffix}" for who in ("kernel", "bff")}
    roles = {who: f"cs_bench_{who}_{suffix}" for who in ("owner", "kernel_app", "bff_app")}
    passwords = {who: secrets.token_hex(16) for who in roles}
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        for group in (KERNEL_APP_ROLE, BFF_APP_ROLE):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (group,)).fetchone()
            if not exists:
                conn.execute(f"CREATE ROLE {group} NOLOGIN")
        groups = {"owner": "", "kernel_app": f" IN ROLE {KERNEL_APP_ROLE}", "bff_app": f" IN ROLE {BFF_APP_ROLE}"}
        for who, role in roles.items():
            conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{passwords[who]}'{groups[who]}")
        for name in names.values():
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{roles["owner"]}"')

    def url(who: str, database: str) -> str:
        return PG_URL_BASE.format(user=roles[who], password=passwords[who], database=names[database])

    try:
        yield {
            "CORNERSTONE_KERNEL_DATABASE_URL": url("kernel_app", "kernel"),
            "CORNERSTONE_BFF_DATABASE_URL": url("bff_app", "bff"),
            "CORNERSTONE_KERNEL_MIGRATION_DATABASE_URL": url("owner", "kernel"),
            "CORNERSTONE_BFF_MIGRATION_DATABASE_URL": url("owner", "bff"),
        }
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for role in roles.values():
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')


# --- the run --------------------------------------------------------------------------------------


def _median(results: list[Load]) -> Load:
    """The round with the median throughput; non-2xx answers summed over all rounds."""
    middle = sorted(results, key=lambda result: result.rate)[len(results) // 2]
    failures = sum(result.failures for result in results)
    detail: dict[str, int] = {}
    for result in results:
        for kind, count in result.detail.items():
            detail[kind] = detail.get(kind, 0) + count
    return Load(middle.requests, middle.seconds, middle.p50_ms, middle.p99_ms, failures, detail)


def _line(name: str, load: Load, single_ms: float) -> str:
    failures = f"{load.failures}" + (f" {load.detail}" if load.detail else "")
    return (
        f"  {name:<22} {load.rate:9.1f} req/s   p50 {load.p50_ms:7.2f} ms   p99 {load.p99_ms:7.2f} ms   "
        f"non-2xx {failures:<6}   single request (median) {single_ms:6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load run")
    parser.add_argument("--rounds", type=int, default=1, help="alternating load runs of each; the median is judged")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--sequential", type=int, default=300, help="requests of the single-request median")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--redis-url", default=None, help="give the BFF a Redis (e.g. redis://127.0.0.1:6379/15)")
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--log-level", default=None, help="services' log level (default: theirs, INFO)")
    parser.add_argument("--keep", action="store_true", help="print the data dir's logs' tails at the end")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    parser.add_argument("--headers", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if args.generate:
        result = asyncio.run(_python_load(args.generate, json.loads(args.headers), args.connections, args.seconds))
        print(json.dumps(result))
        return

    generator = args.load
    if generator == "auto":
        generator = "wrk" if os.path.exists(WRK) else "python"
    if generator == "wrk" and not os.path.exists(WRK):
        raise SystemExit(f"{WRK} is not installed (apt-get install wrk), or use --load python")

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cs-bench-read-")))
        data_dir = tmp / "data"
        kernel_port, bff_port, bare_port = free_port(), free_port(), free_port()
        env = {
            **os.environ,
            "CORNERSTONE_DATA_DIR": str(data_dir),
            "CORNERSTONE_KERNEL_URL": f"http://127.0.0.1:{kernel_port}",
            # One user drives the whole load: a per-user budget far above it, so nothing is refused
            # and what is measured is the limiter's work, not its refusals.
            "CORNERSTONE_RATE_LIMIT_PER_MINUTE": "100000000",
            "PYTHONUNBUFFERED": "1",
        }
        if args.log_level:
            env["CORNERSTONE_LOG_LEVEL"] = args.log_level
        if args.db == "postgres":
            env.update(stack.enter_context(postgres_databases()))
        if args.redis_url:
            env["CORNERSTONE_REDIS_URL"] = args.redis_url
            env["CORNERSTONE_REDIS_KEY_PREFIX"] = f"cs-bench-{secrets.token_hex(4)}"
        cli = [sys.executable, "-m", "cornerstone"]
        run([*cli, "migrate"], env)
        org = ["org", "create", "--name", "Bench Capital", "--admin-email", "bench@example.test"]
        run([*cli, *org, "--password", PASSWORD], env)
        kernel = ["kernel", "--host", "127.0.0.1", "--port", str(kernel_port)]
        _, kernel_process = stack.enter_context(serving_process([*cli, *kernel], env, kernel_port, tmp / "kernel.log"))
        bff_url, bff_process = stack.enter_context(
            serving_process(
                [*cli, "bff", "--host", "127.0.0.1", "--port", str(bff_port)], env, bff_port, tmp / "bff.log"
            )
        )
        bare_args = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(bare_port)]
        bare_url = stack.enter_context(serving(bare_args, env, bare_port, tmp / "bare.log"))

        token = httpx.post(
            f"{bff_url}/api/auth/token", json={"email": "bench@example.test", "password": PASSWORD}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        deal = httpx.post(
            f"{bff_url}/api/deals", json={"name": "Bench Tower", "asset_class": "office", "units": 120}, headers=auth
        ).json()
        targets = {
            "bare FastAPI": (f"{bare_url}/bare", {}),
            READ: (f"{bff_url}/api/deals/{deal['id']}", auth),
        }

        def load(url: str, headers: dict[str, str], seconds: float) -> Load:
            if generator == "wrk":
                return _wrk(url, headers, args.connections, seconds, args.threads, tmp)
            return _python(url, headers, args.connections, seconds)

        by = f"wrk ({args.threads} thread)" if generator == "wrk" else "the asyncio generator (own process)"
        print(
            f"{args.connections} connections x {args.seconds:g} s each, load by {by}; "
            f"{args.db}, Redis {'yes' if args.redis_url else 'no'}, log level {args.log_level or 'INFO'}, "
            f"{os.cpu_count()} CPUs shared by the generator and the servers"
        )
        singles: dict[str, float] = {}
        for name, (url, headers) in targets.items():
            singles[name] = sequential_median(url, headers, args.sequential)
            load(url, headers, 2.0)  # warm-up: connections, caches, the kernel's first queries
        rounds: dict[str, list[Load]] = {name: [] for name in targets}
        # CPU seconds each service spent on the authenticated reads' load runs: per request, a figure a
        # busy machine disturbs far less than throughput.
        cpu = {"BFF": 0.0, "kernel": 0.0}
        processes = {"BFF": bff_process.pid, "kernel": kernel_process.pid}
        for number in range(1, args.rounds + 1):
            # Alternating order, so a neighbour's load on the shared machine falls on both alike.
            order = list(targets.items()) if number % 2 else list(reversed(targets.items()))
            for name, (url, headers) in order:
                before = {service: cpu_seconds(pid) for service, pid in processes.items()}
                rounds[name].append(load(url, headers, args.seconds))
                if name == READ:
                    for service, pid in processes.items():
                        cpu[service] += cpu_seconds(pid) - before[service]
                if args.rounds > 1:
                    print(f"  round {number}" + _line(name, rounds[name][-1], singles[name])[1:], flush=True)
        loads = {name: _median(results) for name, results in rounds.items()}
        if args.rounds > 1:
            print(f"median of {args.rounds} rounds:")
        for name, result in loads.items():
            print(_line(name, result, singles[name]), flush=True)
        reads = sum(result.requests for result in rounds[READ])
        print(
            "CPU per authenticated read: "
            + ", ".join(f"{service} {1000 * seconds / reads:.3f} ms" for service, seconds in cpu.items())
            + f", both {1000 * sum(cpu.values()) / reads:.3f} ms"
        )
        if args.keep:
            for log in ("bff.log", "kernel.log"):
                print(f"--- {log} (tail)\n" + (tmp / log).read_text(errors="replace")[-1500:])

    bare, read = loads["bare FastAPI"], loads[READ]
    ratio = read.rate / bare.rate if bare.rate else 0.0
    checks = {
        f"ratio {ratio:.3f} >= {GOAL_RATIO:.2f}": ratio >= GOAL_RATIO,
        f"p99 {read.p99_ms:.2f} ms <= {GOAL_P99_MS:.0f} ms": read.p99_ms <= GOAL_P99_MS,
        f"non-2xx {read.failures} == 0": read.failures == 0,
    }
    print(f"authenticated read / bare throughput: {ratio:.3f}")
    for check, passed in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'}  {check}")
    print("PASS" if all(checks.values()) else "FAIL")


if __name__ == "__main__":
    main()

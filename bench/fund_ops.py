"""What a capital call and a waterfall distribution cost on a fund with 10,000 investors.

Starts one real kernel as a subprocess (``python -m cornerstone kernel``, SQLite, migrated by
``python -m cornerstone migrate``) and talks to it over HTTP with service tokens, as the BFF does.

Setup (untimed): a fund through the API; the first investor and its commitment through the API,
the other ``--investors - 1`` and their commitments inserted with SQL into the kernel's SQLite
file (the same tables and column types, through the kernel's own table definitions). A first
capital call of half the commitments is created and issued through the API (it also warms the
route up); ``--api-payments`` of its shares are paid through the API (their pace is printed, as
what paying all of them one by one would take) and the rest are recorded with SQL as the payment
route records them: a contribution in the ledger, the share and the call marked paid. With
``--prior-distributions K``, K earlier waterfall distributions are created, approved by a second
person and paid through the API, so the timed ones also replay a history of distributions.

Timed, ``--runs`` times each, through the kernel's API:

- ``POST /capital-calls``: allocation over every commitment (pro rata, capped by what is uncalled),
  one allocation row per investor, the event, the stored idempotent answer. Each draft is then
  cancelled (untimed), so every run allocates over the same uncalled amounts.
- ``POST /distributions`` (``method: waterfall``): the European waterfall over every investor's
  contributions (and prior distributions), one allocation row per investor. Drafts, so they do not
  count against each other.

Each is compared with a baseline in the same run: the same number of rows, of the same shape as
the operation's allocation table (same primary key and index, same pragmas), inserted by one
``executemany`` in one transaction into a scratch SQLite file. Printed per run and as medians:
wall time seen by the client, the kernel's own duration from its access log, the baseline, the
ratio, and the targets (under 2 s each; under 5x the baseline).

``--profile`` serves the same kernel app from this script with a per-request ``cProfile`` hook:
after the timed runs, one more of each operation is profiled and its own time is printed by area
(SQLAlchemy ORM, waterfall arithmetic, ...) and by function. The profiler sees the event loop's
thread only: time spent in SQLite (aiosqlite's worker thread) shows up as the loop waiting in
``select.epoll.poll``. The timed runs are never profiled.

"In kernel" is the duration the kernel logs for the request (its access log line, so only at log
level INFO or DEBUG); the rest of the API time is HTTP and JSON on the loopback.

    .venv/bin/python bench/fund_ops.py [--investors 10000] [--runs 3] [--api-payments 50]
        [--prior-distributions 0] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import random
import secrets
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NoReturn

import httpx
from servers import free_port, run, serving
from sqlalchemy import Engine, create_engine, insert, text, update

from cornerstone.kernel.models import (
    CapitalCallAllocationRow,
    CapitalCallRow,
    CommitmentRow,
    InvestorRow,
    LedgerEntryRow,
)
from cornerstone.kit.clock import utcnow
from cornerstone.kit.db import sync_url
from cornerstone.kit.ids import new_id
from cornerstone.kit.service_auth import mint_service_token

TARGET_SECONDS = 2.0
TARGET_RATIO = 5.0
PAYMENT_DAYS = 60  # contributions are spread over this many days from FIRST_PAYMENT
FIRST_PAYMENT = date(2025, 1, 15)
FIRST_PRIOR_DISTRIBUTION = date(2026, 1, 15)
DISTRIBUTION_DATE = date(2027, 1, 15)
PROFILE_HEADER = "X-Bench-Profile"
API = "/kernel/v1/orgs/{org}"


def _on_sigterm(_signum: int, _frame: object) -> NoReturn:
    raise SystemExit(143)  # unwinds through the `with` blocks, so the kernel is stopped too


class KernelError(RuntimeError):
    pass


@dataclass
class Kernel:
    """A kernel client acting for one org: a fresh service token per request, as the BFF mints them."""

    client: httpx.Client
    service_key: str
    org_id: str
    actor_id: str
    log: Path
    access_log: bool = True

    def request(
        self,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        money: bool = False,
        actor_id: str | None = None,
        expect: int = 200,
        profile: str | None = None,
    ) -> tuple[float, dict[str, Any], str]:
        """POST ``path`` (under the org); the seconds until the whole answer was read, its JSON, its request id."""
        token = mint_service_token(
            self.service_key, org_id=self.org_id, actor_id=actor_id or self.actor_id, actor_role="admin"
        )
        headers = {"Authorization": f"Bearer {token}", "X-Request-ID": uuid.uuid4().hex}
        if money:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        if profile:
            headers[PROFILE_HEADER] = profile
        url = API.format(org=self.org_id) + path
        started = time.perf_counter()
        response = self.client.post(url, json=body, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != expect:
            raise KernelError(f"POST {path} answered {response.status_code}, not {expect}: {response.text[:2000]}")
        return elapsed, dict(response.json()), headers["X-Request-ID"]

    def get(self, path: str) -> dict[str, Any]:
        token = mint_service_token(self.service_key, org_id=self.org_id, actor_id=self.actor_id, actor_role="admin")
        response = self.client.get(API.format(org=self.org_id) + path, headers={"Authorization": f"Bearer {token}"})
        if response.status_code != 200:
            raise KernelError(f"GET {path} answered {response.status_code}: {response.text[:2000]}")
        return dict(response.json())

    def duration(self, request_id: str) -> float | None:
        """The kernel's own duration of a request (its access log line), in seconds."""
        if not self.access_log:
            return None
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            for line in self.log.read_text(errors="replace").splitlines():
                if request_id not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == "request" and record.get("request_id") == request_id:
                    return float(record["duration_ms"]) / 1000
            time.sleep(0.05)
        return None


def _engine(url: str) -> Engine:
    return create_engine(sync_url(url), connect_args={"timeout": 30})


def _seed_investors(
    engine: Engine, org_id: str, fund_id: str, actor_id: str, count: int, rng: random.Random
) -> dict[str, int]:
    """``count`` investors, each with one commitment of $100k to $10M; their ids and amounts in cents."""
    now = utcnow()
    investors: list[dict[str, Any]] = []
    commitments: list[dict[str, Any]] = []
    for number in range(count):
        investor_id = new_id()
        investors.append(
            {
                "id": investor_id,
                "org_id": org_id,
                "name": f"Bench Investor {number:05d} LLC",
                "type": "llc",
                "email": f"investor{number:05d}@example.test",
                "tax_id_encrypted": None,
                "bank_account_encrypted": None,
                "bank_routing_encrypted": None,
                "created_by": actor_id,
                "created_at": now,
            }
        )
        commitments.append(
            {
                "id": new_id(),
                "org_id": org_id,
                "fund_id": fund_id,
                "investor_id": investor_id,
                "amount": rng.randrange(100_000, 10_000_000, 1_000) * 100,
                "created_by": actor_id,
                "created_at": now,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(InvestorRow), investors)
        conn.execute(insert(CommitmentRow), commitments)
    return {row["investor_id"]: int(row["amount"]) for row in commitments}


def _payment_day(index: int) -> date:
    return FIRST_PAYMENT + timedelta(days=index % PAYMENT_DAYS)


def _seed_payments(
    engine: Engine, org_id: str, fund_id: str, call_id: str, unpaid: Sequence[tuple[int, str, int]]
) -> None:
    """What ``POST /capital-calls/{id}/payments`` records for each (index, investor, amount) in
    ``unpaid`` (a payment of the whole share): the ledger contribution and the share paid; then
    the call, every share now paid, funded. (The per-payment events are left out.)"""
    now = utcnow()
    entries = [
        {
            "id": new_id(),
            "org_id": org_id,
            "fund_id": fund_id,
            "investor_id": investor_id,
            "kind": "contribution",
            "amount": amount,
            "on": _payment_day(index),
            "source_type": "capital_call",
            "source_id": call_id,
            "request_id": None,
            "created_at": now,
        }
        for index, investor_id, amount in unpaid
    ]
    share, call = CapitalCallAllocationRow, CapitalCallRow
    with engine.begin() as conn:
        if entries:
            conn.execute(insert(LedgerEntryRow), entries)
        conn.execute(update(share).where(share.call_id == call_id).values(paid=share.amount))
        conn.execute(
            update(call)
            .where(call.id == call_id)
            .values(paid=call.amount, status="funded", version=call.version + 1, updated_at=now)
        )


@dataclass
class Baseline:
    """A scratch SQLite file with tables shaped like the kernel's allocation tables."""

    path: Path
    connection: sqlite3.Connection = field(init=False)

    def __post_init__(self) -> None:
        self.connection = sqlite3.connect(self.path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
            self.connection.execute(f"PRAGMA {pragma}")
        self.connection.execute(
            "CREATE TABLE capital_call_allocations (call_id VARCHAR(32) NOT NULL, investor_id VARCHAR(32) NOT NULL, "
            "org_id VARCHAR(32) NOT NULL, amount BIGINT NOT NULL, paid BIGINT NOT NULL, "
            "PRIMARY KEY (call_id, investor_id))"
        )
        self.connection.execute(
            "CREATE INDEX ix_capital_call_allocations_org_id_investor_id "
            "ON capital_call_allocations (org_id, investor_id)"
        )
        self.connection.execute(
            "CREATE TABLE distribution_allocations (distribution_id VARCHAR(32) NOT NULL, "
            "investor_id VARCHAR(32) NOT NULL, org_id VARCHAR(32) NOT NULL, amount BIGINT NOT NULL, "
            "PRIMARY KEY (distribution_id, investor_id))"
        )
        self.connection.execute(
            "CREATE INDEX ix_distribution_allocations_org_id_investor_id "
            "ON distribution_allocations (org_id, investor_id)"
        )

    def insert(self, table: str, rows: Sequence[tuple[Any, ...]]) -> float:
        """Seconds to insert ``rows`` into ``table`` with one executemany in one transaction."""
        marks = ", ".join("?" * len(rows[0]))
        started = time.perf_counter()
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        self.connection.execute("COMMIT")
        return time.perf_counter() - started

    def close(self) -> None:
        self.connection.close()


@dataclass
class Operation:
    name: str
    api: list[float] = field(default_factory=list)
    kernel: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"


def _printrun(number: int, operation: Operation) -> None:
    kernel = operation.kernel[-1] if len(operation.kernel) == len(operation.api) else None
    api, base = operation.api[-1], operation.baseline[-1]
    print(
        f"  run {number}  {operation.name:<34} API {api:6.3f} s (in kernel {_seconds(kernel)})   "
        f"baseline {base:.4f} s   ratio {api / base:5.1f}x"
    )


def _create_call(
    kernel: Kernel, fund_id: str, amount: int, profile: str | None = None
) -> tuple[float, str, dict[str, Any]]:
    body = {"fund_id": fund_id, "amount": amount, "due_date": "2027-06-30", "purpose": "Bench acquisition"}
    elapsed, call, request_id = kernel.request("/capital-calls", body, money=True, expect=201, profile=profile)
    return elapsed, request_id, call


def _create_distribution(
    kernel: Kernel, fund_id: str, amount: int, on: date, profile: str | None = None
) -> tuple[float, str, dict[str, Any]]:
    body = {"fund_id": fund_id, "amount": amount, "date": on.isoformat(), "method": "waterfall"}
    elapsed, created, request_id = kernel.request("/distributions", body, money=True, expect=201, profile=profile)
    return elapsed, request_id, created


def _check_allocations(what: str, answer: Mapping[str, Any], amount: int, investors: int) -> None:
    shares = answer["allocations"]
    total = sum(int(share["amount"]) for share in shares) + int(answer.get("carried_interest", 0))
    if len(shares) != investors or total != amount:
        raise KernelError(f"{what}: {len(shares)} shares summing to {total}, expected {investors} summing to {amount}")


AREAS = (
    ("/sqlalchemy/orm/", "SQLAlchemy ORM"),
    ("/sqlalchemy/", "SQLAlchemy core and engine"),
    ("/aiosqlite/", "aiosqlite"),
    ("/pydantic", "pydantic"),
    ("/cornerstone/kernel/distributions/waterfall.py", "cornerstone waterfall"),
    ("/cornerstone/kit/money.py", "cornerstone kit.money"),
    ("/cornerstone/", "cornerstone, other"),
    ("/fastapi/", "FastAPI and Starlette"),
    ("/starlette/", "FastAPI and Starlette"),
    ("/uvicorn/", "uvicorn and h11"),
    ("/h11/", "uvicorn and h11"),
    ("/json/", "json"),
    ("/asyncio/", "asyncio"),
)
POLL = "event loop waiting (SQLite work in aiosqlite's thread)"


def _area(filename: str, function: str) -> str:
    if "poll" in function and "epoll" in function:
        return POLL
    for marker, area in AREAS:
        if marker in filename:
            return area
    return "built-ins (C)" if filename == "~" else "other Python"


def _where(filename: str, line: int, function: str) -> str:
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{function} ({filename}:{line})" if filename != "~" else function


def _print_profile(path: Path, title: str, limit: int) -> None:
    """Own time by area and by function (reliable under asyncio and greenlets), and the kernel's own
    functions by cumulative time (reliable for its synchronous code; coroutines are counted per resume)."""
    import pstats

    if not path.exists():
        print(f"(no profile was written for {title})")
        return
    entries: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    total = sum(own for _, _, own, _, _ in entries.values())
    print(f"\nprofile of one {title} under cProfile: {total:.3f} s of own time on the event loop's thread")
    areas: dict[str, float] = {}
    for (filename, _, function), (_, _, own, _, _) in entries.items():
        areas[_area(filename, function)] = areas.get(_area(filename, function), 0.0) + own
    print("  own time by area:")
    for area, own in sorted(areas.items(), key=lambda item: -item[1]):
        print(f"    {own:7.3f} s  {own / total * 100:5.1f} %  {area}")
    print(f"  top {limit} functions by own time:")
    ranked = sorted(entries.items(), key=lambda item: -item[1][2])[:limit]
    for (filename, line, function), (_, calls, own, cumulative, _) in ranked:
        print(f"    {own:7.3f} s own {cumulative:7.3f} s cum {calls:>8} calls  {_where(filename, line, function)}")
    print(f"  top {limit} kernel functions (cornerstone) by cumulative time:")
    # A coroutine is counted once per resume, so its cumulative time can exceed the whole: left out.
    ours = [item for item in entries.items() if "/cornerstone/" in item[0][0] and item[1][3] <= total]
    for (filename, line, function), (_, calls, own, cumulative, _) in sorted(ours, key=lambda item: -item[1][3])[
        :limit
    ]:
        print(f"    {cumulative:7.3f} s cum {own:7.3f} s own {calls:>8} calls  {_where(filename, line, function)}")


def serve_profiled(port: int, out_dir: Path) -> None:
    """Child process: the kernel app, with requests carrying ``X-Bench-Profile: name`` profiled into
    ``out_dir/name.pstats`` (the rest run as usual)."""
    from starlette.types import ASGIApp, Receive, Scope, Send

    from cornerstone.kernel.app import create_app
    from cornerstone.kernel.config import KernelSettings
    from cornerstone.kit.service_app import serve

    class ProfileRequests:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            names = [v.decode() for k, v in scope.get("headers", []) if k.decode().lower() == PROFILE_HEADER.lower()]
            if scope["type"] != "http" or not names:
                await self.app(scope, receive, send)
                return
            profiler = cProfile.Profile()
            profiler.enable()
            try:
                await self.app(scope, receive, send)
            finally:
                profiler.disable()
                profiler.dump_stats(out_dir / f"{names[0]}.pstats")

    app = create_app(KernelSettings())
    app.add_middleware(ProfileRequests)
    serve(app, "127.0.0.1", port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--investors", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite"], default="sqlite")
    parser.add_argument("--api-payments", type=int, default=50, help="shares of the funding call paid via the API")
    parser.add_argument("--prior-distributions", type=int, default=0, help="approved and paid before the timed ones")
    parser.add_argument("--profile", action="store_true", help="profile one more of each operation in the kernel")
    parser.add_argument("--profile-lines", type=int, default=30)
    parser.add_argument("--log-level", default="INFO", help="kernel log level (INFO: one line per request)")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--serve-profiled", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_profiled:
        serve_profiled(args.port, args.serve_profiled)
        return
    if args.investors < 1 or args.runs < 1:
        parser.error("--investors and --runs must be at least 1")
    signal.signal(signal.SIGTERM, _on_sigterm)

    with tempfile.TemporaryDirectory(prefix="cs-bench-") as tmp:
        data_dir = Path(tmp)
        port = free_port()
        service_key = secrets.token_urlsafe(32)
        env = {
            **os.environ,
            "CORNERSTONE_DATA_DIR": str(data_dir),
            "CORNERSTONE_SERVICE_KEY": service_key,
            "CORNERSTONE_LOG_LEVEL": args.log_level,
            "PYTHONUNBUFFERED": "1",
        }
        cli = [sys.executable, "-m", "cornerstone"]
        run([*cli, "migrate"], env)
        log = data_dir / "kernel.log"
        if args.profile:
            command = [sys.executable, str(Path(__file__).resolve()), "--serve-profiled", str(data_dir)]
            command += ["--port", str(port)]
        else:
            command = [*cli, "kernel", "--host", "127.0.0.1", "--port", str(port)]
        with (
            serving(command, env, port, log) as url,
            httpx.Client(base_url=url, timeout=300.0) as client,
        ):
            access_log = args.log_level.upper() in ("INFO", "DEBUG")
            kernel = Kernel(client, service_key, org_id=new_id(), actor_id=new_id(), log=log, access_log=access_log)
            _bench(kernel, data_dir, args)


def _bench(kernel: Kernel, data_dir: Path, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)  # noqa: S311 - reproducible amounts, not a secret
    engine = _engine(f"sqlite:///{data_dir / 'kernel.sqlite3'}")
    print(
        f"fund with {args.investors:,} investors: capital call and waterfall distribution through the kernel API; "
        f"SQLite, kernel subprocess over HTTP, {args.runs} runs each after a warm-up, log level {args.log_level}, "
        f"{os.cpu_count()} CPUs"
    )

    # Setup: the fund, one investor through the API (the shape the SQL rows copy), the rest by SQL.
    _, fund, _ = kernel.request("/funds", {"name": "Bench Fund I", "currency": "USD"}, expect=201)
    fund_id = str(fund["id"])
    body: dict[str, Any] = {"name": "Bench Investor API LLC", "type": "llc", "email": "api-investor@example.test"}
    _, first, _ = kernel.request("/investors", body, expect=201)
    first_amount = 5_000_000_00
    kernel.request(f"/funds/{fund_id}/commitments", {"investor_id": first["id"], "amount": first_amount}, expect=201)
    started = time.perf_counter()
    committed = _seed_investors(engine, kernel.org_id, fund_id, kernel.actor_id, args.investors - 1, rng)
    committed[str(first["id"])] = first_amount
    total_committed = sum(committed.values())
    print(
        f"setup: {args.investors - 1:,} investors and commitments inserted by SQL in "
        f"{time.perf_counter() - started:.2f} s; committed {total_committed / 100:,.2f} USD"
    )

    # The funding call: created (the warm-up of the timed route) and issued through the API.
    funding_amount = total_committed // 2
    elapsed, request_id, funding = _create_call(kernel, fund_id, funding_amount)
    _check_allocations("funding call", funding, funding_amount, args.investors)
    print(
        f"setup: warm-up capital call of {funding_amount / 100:,.2f} USD: {elapsed:.3f} s "
        f"(in kernel {_seconds(kernel.duration(request_id))})"
    )
    kernel.request(f"/capital-calls/{funding['id']}/issue")
    shares = [(index, str(s["investor_id"]), int(s["amount"])) for index, s in enumerate(funding["allocations"])]
    by_api, by_sql = shares[: args.api_payments], shares[args.api_payments :]
    payment_times: list[float] = []
    for index, investor_id, amount in by_api:
        body = {"investor_id": investor_id, "amount": amount, "received_at": _payment_day(index).isoformat()}
        elapsed, _, _ = kernel.request(f"/capital-calls/{funding['id']}/payments", body, money=True)
        payment_times.append(elapsed)
    if payment_times:
        mean = statistics.mean(payment_times)
        print(
            f"setup: {len(payment_times)} payments through the API: mean {mean * 1000:.1f} ms, "
            f"median {statistics.median(payment_times) * 1000:.1f} ms per payment "
            f"(all {args.investors:,} one by one would take ~{mean * args.investors:,.0f} s)"
        )
    started = time.perf_counter()
    _seed_payments(engine, kernel.org_id, fund_id, str(funding["id"]), by_sql)
    print(f"setup: the other {len(by_sql):,} payments recorded by SQL in {time.perf_counter() - started:.2f} s")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM money_operations")).scalar_one()
    print(f"setup: money_operations holds {stored} keys (each a reference to the object it moved money on)")
    figures = kernel.get(f"/funds/{fund_id}")["figures"]
    if (figures["committed"], figures["called"], figures["contributed"]) != (
        total_committed,
        funding_amount,
        funding_amount,
    ):
        raise KernelError(f"the fund's figures do not match the setup: {figures}")

    checker = new_id()  # distributions need a second person to approve them
    for number in range(args.prior_distributions):
        on = FIRST_PRIOR_DISTRIBUTION + timedelta(days=30 * number)
        prior_amount = funding_amount // (5 * (args.prior_distributions + 1))
        created_s, _, prior = _create_distribution(kernel, fund_id, prior_amount, on)
        approved_s, _, _ = kernel.request(f"/distributions/{prior['id']}/approve", actor_id=checker)
        paid_s, _, _ = kernel.request(f"/distributions/{prior['id']}/pay", money=True)
        print(
            f"setup: prior distribution {number + 1} of {prior_amount / 100:,.2f} USD on {on}: "
            f"create {created_s:.3f} s, approve {approved_s:.3f} s, pay {paid_s:.3f} s"
        )
    # Warm-up of the distribution route (a draft: drafts never count against later distributions).
    elapsed, request_id, _ = _create_distribution(kernel, fund_id, funding_amount, DISTRIBUTION_DATE)
    print(f"setup: warm-up waterfall distribution: {elapsed:.3f} s (in kernel {_seconds(kernel.duration(request_id))})")

    baseline = Baseline(data_dir / "baseline.sqlite3")
    call_op = Operation("POST /capital-calls")
    distribution_op = Operation("POST /distributions (waterfall)")
    try:
        for number in range(1, args.runs + 1):
            amount = total_committed // 20 + number
            elapsed, request_id, call = _create_call(kernel, fund_id, amount)
            _check_allocations("capital call", call, amount, args.investors)
            call_op.api.append(elapsed)
            if (seconds := kernel.duration(request_id)) is not None:
                call_op.kernel.append(seconds)
            parent = new_id()
            call_rows = [(parent, s["investor_id"], kernel.org_id, s["amount"], 0) for s in call["allocations"]]
            call_op.baseline.append(baseline.insert("capital_call_allocations", call_rows))
            _printrun(number, call_op)
            kernel.request(f"/capital-calls/{call['id']}/cancel")

            amount = funding_amount * 3 // 2 + number
            elapsed, request_id, distribution = _create_distribution(kernel, fund_id, amount, DISTRIBUTION_DATE)
            _check_allocations("distribution", distribution, amount, args.investors)
            distribution_op.api.append(elapsed)
            if (seconds := kernel.duration(request_id)) is not None:
                distribution_op.kernel.append(seconds)
            parent = new_id()
            distribution_rows = [
                (parent, s["investor_id"], kernel.org_id, s["amount"]) for s in distribution["allocations"]
            ]
            distribution_op.baseline.append(baseline.insert("distribution_allocations", distribution_rows))
            _printrun(number, distribution_op)
    finally:
        baseline.close()
        engine.dispose()

    print(f"median of {args.runs} runs ({args.investors:,} investors, SQLite):")
    time_target, ratio_target = f"time < {TARGET_SECONDS:g} s", f"ratio < {TARGET_RATIO:g}x"
    print(
        f"  {'operation':<34} {'API':>9} {'in kernel':>10} {'baseline':>10} {'ratio':>7}   "
        f"{time_target:<12} {ratio_target}"
    )
    for operation in (call_op, distribution_op):
        api = statistics.median(operation.api)
        in_kernel = statistics.median(operation.kernel) if operation.kernel else None
        base = statistics.median(operation.baseline)
        ratio = api / base
        print(
            f"  {operation.name:<34} {api:7.3f} s {_seconds(in_kernel):>10} {base:8.4f} s {ratio:6.1f}x   "
            f"{'PASS' if api < TARGET_SECONDS else 'MISS':<12} {'PASS' if ratio < TARGET_RATIO else 'MISS'}"
        )

    if args.profile:
        _create_call(kernel, fund_id, total_committed // 20, profile="capital-call")
        _create_distribution(kernel, fund_id, funding_amount * 3 // 2, DISTRIBUTION_DATE, profile="distribution")
        _print_profile(data_dir / "capital-call.pstats", "POST /capital-calls", args.profile_lines)
        _print_profile(data_dir / "distribution.pstats", "POST /distributions (waterfall)", args.profile_lines)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the kernel was stopped on the way out
        sys.exit(130)

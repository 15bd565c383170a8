"""What each main page of the web UI costs the server, next to the JSON API reads of the same objects.

Starts a kernel and a BFF as subprocesses on a temporary SQLite data dir seeded with the demo
(``cornerstone demo``), signs in the demo users, then for each main page, in alternating order for
``--rounds`` rounds after a warm-up:

- the page: ``GET <page>`` with the session cookie (one request; the page makes its API reads in
  process);
- the API: the same objects read through the JSON API with a bearer token, one request after the
  other, as a client of the API would.

Server time is read from the BFF's own access log (``duration_ms`` of the request's line, found by
the ``X-Request-ID`` this script sends), so loopback and client overhead are not counted. The page's
figure is its one request; the API's is the sum of its reads. Printed: p50 and p95 of each and the
ratio of the p50s (target: a page costs at most 2x its API reads). The script also checks that each
page made exactly the API reads it is compared with (its in-process calls carry its request id).

    .venv/bin/python bench/ui_pages.py [--rounds 5] [--iterations 20]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from servers import free_port, run, serving

from cornerstone.bff.portfolio.pages import quarter_ends

TARGET_RATIO = 2.0
PASSWORD = secrets.token_urlsafe(16)
EMAILS = {"gp": "gp@demo.test", "admin": "admin@demo.test", "lp": "lp@demo.test"}


@dataclass
class Ids:
    """Ids of demo objects the pages show, found through the API."""

    deal: str = ""
    fund: str = ""
    call: str = ""
    distribution: str = ""
    investor: str = ""
    lp_investor: str = ""
    statements: list[str] = field(default_factory=list)


@dataclass
class Page:
    name: str
    role: str
    path: Callable[[Ids], str]
    api_reads: Callable[[Ids], list[str]]


PAGES: list[Page] = [
    Page("Pipeline", "gp", lambda i: "/deals", lambda i: ["/api/deals?limit=200"]),
    Page(
        "Deal",
        "gp",
        lambda i: f"/deals/{i.deal}",
        lambda i: [
            f"/api/deals/{i.deal}",
            f"/api/deals/{i.deal}/transitions",
            f"/api/deals/{i.deal}/approvals",
            f"/api/deals/{i.deal}/materials",
            f"/api/deals/{i.deal}/artifacts",
            f"/api/deals/{i.deal}/checklist",
            f"/api/deals/{i.deal}/parties",
            f"/api/deals/{i.deal}/history",
        ],
    ),
    Page("Funds", "gp", lambda i: "/funds", lambda i: ["/api/funds?limit=200"]),
    Page(
        "Fund",
        "gp",
        lambda i: f"/funds/{i.fund}",
        lambda i: [
            f"/api/funds/{i.fund}",
            f"/api/funds/{i.fund}/commitments?limit=200",
            "/api/investors?limit=200",
            f"/api/capital-calls?fund_id={i.fund}&limit=200",
            f"/api/distributions?fund_id={i.fund}&limit=200",
        ],
    ),
    Page(
        "Capital call",
        "gp",
        lambda i: f"/capital-calls/{i.call}",
        lambda i: [f"/api/capital-calls/{i.call}", f"/api/funds/{i.fund}", "/api/investors?limit=200"],
    ),
    Page(
        "Distribution",
        "gp",
        lambda i: f"/distributions/{i.distribution}",
        lambda i: [f"/api/distributions/{i.distribution}", f"/api/funds/{i.fund}", "/api/investors?limit=200"],
    ),
    Page("Investors", "gp", lambda i: "/investors", lambda i: ["/api/investors?limit=200"]),
    Page(
        "Portfolio",
        "lp",
        lambda i: "/portfolio",
        # The portfolio, today's statement and one statement per quarter end since the first flow.
        lambda i: ["/api/portfolio", *i.statements],
    ),
    Page("Audit trail", "admin", lambda i: "/admin/audit", lambda i: ["/api/audit?limit=50", "/api/users"]),
]


@dataclass
class Samples:
    page: list[float] = field(default_factory=list)
    api: list[float] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def durations(log: Path) -> dict[str, tuple[float, list[str]]]:
    """request id -> (duration_ms of the outer request's line, paths of the in-process API calls)."""
    outer: dict[str, float] = {}
    inner: dict[str, list[str]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") != "request" or entry.get("service") != "bff":
            continue
        request_id, path = entry.get("request_id"), entry.get("path") or ""
        if not request_id:
            continue
        # A page's in-process API calls log a line each under the page's request id, before the page's own.
        if request_id in outer or (path.startswith("/api/") and request_id.startswith("page-")):
            inner.setdefault(request_id, []).append(path)
        else:
            outer[request_id] = float(entry["duration_ms"])
    return {rid: (ms, inner.get(rid, [])) for rid, ms in outer.items()}


def discover(url: str, tokens: dict[str, str]) -> Ids:
    def get(role: str, path: str) -> Any:
        answer = httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {tokens[role]}"}, timeout=30)
        answer.raise_for_status()
        return answer.json()

    deals = get("gp", "/api/deals?limit=200")["items"]
    # The demo deal with the most to show: the one mid-diligence (checklist, materials, approvals).
    deal = next((d for d in deals if d["stage"] == "due_diligence"), deals[0])
    funds = get("gp", "/api/funds")["items"]
    fund = funds[0]["id"]
    calls = get("gp", f"/api/capital-calls?fund_id={fund}")["items"]
    distributions = get("gp", f"/api/distributions?fund_id={fund}")["items"]
    investors = get("gp", "/api/investors")["items"]
    me = get("lp", "/api/me")
    statements = []
    for position in get("lp", "/api/portfolio")["funds"]:
        path = f"/api/investors/{me['investor_id']}/statement?fund_id={position['fund_id']}"
        entries = get("lp", f"{path}&as_of={date.today().isoformat()}")["entries"]
        first = min((date.fromisoformat(entry["on"]) for entry in entries), default=None)
        ends = quarter_ends(first, date.today()) if first else []
        statements += [f"{path}&as_of={day.isoformat()}" for day in [date.today(), *ends]]
    return Ids(
        deal=deal["id"],
        fund=fund,
        call=calls[0]["id"] if calls else "",
        distribution=distributions[0]["id"] if distributions else "",
        investor=investors[0]["id"] if investors else "",
        lp_investor=me.get("investor_id") or "",
        statements=statements,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20, help="page loads (and API read sets) per round")
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cs-bench-ui-") as tmp:
        data_dir = Path(tmp)
        kernel_port, bff_port = free_port(), free_port()
        env = {
            **os.environ,
            "CORNERSTONE_DATA_DIR": str(data_dir),
            "CORNERSTONE_SERVICE_KEY": secrets.token_urlsafe(32),
            "CORNERSTONE_JWT_SIGNING_KEY": secrets.token_urlsafe(32),
            "CORNERSTONE_KERNEL_URL": f"http://127.0.0.1:{kernel_port}",
            "CORNERSTONE_LOG_LEVEL": "INFO",
            "CORNERSTONE_RATE_LIMIT_PER_MINUTE": "100000000",
            "PYTHONUNBUFFERED": "1",
        }
        cli = [sys.executable, "-m", "cornerstone"]
        run([*cli, "migrate"], env)
        run([*cli, "demo", "--password", PASSWORD], env)
        bff_log = data_dir / "bff.log"
        with (
            serving([*cli, "kernel", "--port", str(kernel_port)], env, kernel_port, data_dir / "kernel.log"),
            serving([*cli, "bff", "--port", str(bff_port)], env, bff_port, bff_log) as url,
        ):
            tokens = {
                role: httpx.post(f"{url}/api/auth/token", json={"email": email, "password": PASSWORD}).json()[
                    "access_token"
                ]
                for role, email in EMAILS.items()
            }
            ids = discover(url, tokens)
            samples: dict[str, Samples] = {page.name: Samples() for page in PAGES}
            page_ids: dict[str, list[str]] = {page.name: [] for page in PAGES}
            api_ids: dict[str, list[list[str]]] = {page.name: [] for page in PAGES}
            with httpx.Client(base_url=url, timeout=60) as client:
                for number in range(args.rounds + 1):
                    warm = number == 0
                    order = PAGES if number % 2 else list(reversed(PAGES))
                    for page in order:
                        cookie = {"Cookie": f"cs_session={tokens[page.role]}", "Accept": "text/html"}
                        bearer = {"Authorization": f"Bearer {tokens[page.role]}"}
                        for _ in range(args.warmup if warm else args.iterations):
                            request_id = f"page-{uuid.uuid4().hex}"
                            answer = client.get(page.path(ids), headers={**cookie, "X-Request-ID": request_id})
                            if answer.status_code != 200:
                                raise SystemExit(f"{page.name}: {answer.status_code} {answer.text[:500]}")
                            read_ids = []
                            for path in page.api_reads(ids):
                                read_id = f"api-{uuid.uuid4().hex}"
                                read = client.get(path, headers={**bearer, "X-Request-ID": read_id})
                                if read.status_code != 200:
                                    raise SystemExit(f"{path}: {read.status_code} {read.text[:500]}")
                                read_ids.append(read_id)
                            if not warm:
                                page_ids[page.name].append(request_id)
                                api_ids[page.name].append(read_ids)
            logged = durations(bff_log)

    print(
        f"server time per page on the demo data (SQLite, {os.cpu_count()} CPUs): {args.rounds} alternating rounds x "
        f"{args.iterations} loads after {args.warmup} warm-up loads; API = the same objects read one request "
        "after the other through the JSON API"
    )
    print(f"  {'page':<14} {'reads':>5}  {'page p50':>9} {'page p95':>9}  {'API p50':>9} {'API p95':>9}  ratio")
    failed = False
    for page in PAGES:
        made = {tuple(sorted(logged[rid][1])) for rid in page_ids[page.name]}
        expected = len(page.api_reads(ids))
        counts = {len(calls) for calls in made}
        page_ms = [logged[rid][0] for rid in page_ids[page.name]]
        api_ms = [sum(logged[rid][0] for rid in reads) for reads in api_ids[page.name]]
        samples[page.name] = Samples(page_ms, api_ms)
        p50, a50 = statistics.median(page_ms), statistics.median(api_ms)
        ratio = p50 / a50
        verdict = "PASS" if ratio <= TARGET_RATIO else "OVER"
        failed |= ratio > TARGET_RATIO
        drift = "" if counts == {expected} else f"   (page made {sorted(made)[0]}, compared with {expected} reads)"
        print(
            f"  {page.name:<14} {expected:>5}  {p50:7.2f}ms {percentile(page_ms, 0.95):7.2f}ms  "
            f"{a50:7.2f}ms {percentile(api_ms, 0.95):7.2f}ms  {ratio:4.2f}x {verdict}{drift}"
        )
    print(f"target: each page's p50 at most {TARGET_RATIO:.0f}x the p50 of its API reads")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

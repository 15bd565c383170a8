"""Rate limits over real HTTP: per user, per client address before sign-in, sign-in per address and
per account, trusted proxies, RateLimit fields, shared budgets across replicas through Redis, and
what happens when Redis goes away.

Each test calls from loopback addresses of its own (``fresh_address``), so the per-address
budgets of one test never meet another's on the module's shared stack.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import redis
from sqlalchemy import Engine

from tests.bff.conftest import REDIS_URL
from tests.bff.perimeter_support import (
    CI,
    TRUSTED_PROXY,
    assert_always_headers,
    audit_rows,
    budget,
    fresh_address,
    fresh_public_address,
)
from tests.integration.helpers import assert_problem, without_request_id
from tests.support import (
    TEST_PASSWORD,
    Databases,
    Org,
    Server,
    Stack,
    free_port,
    login,
    new_org,
    running_stack,
    start_server,
    sync_engine,
    wait_until,
)

PER_MINUTE = 5
LOGIN_PER_MINUTE = 3
ACCOUNT_FAILURES = 3
ACCOUNT_WINDOW = 900
LIMITS = {
    "CORNERSTONE_RATE_LIMIT_PER_MINUTE": str(PER_MINUTE),
    "CORNERSTONE_LOGIN_RATE_LIMIT_PER_MINUTE": str(LOGIN_PER_MINUTE),
    "CORNERSTONE_LOGIN_FAILURES_PER_ACCOUNT": str(ACCOUNT_FAILURES),
    "CORNERSTONE_LOGIN_FAILURE_WINDOW_SECONDS": str(ACCOUNT_WINDOW),
    "CORNERSTONE_TRUSTED_PROXIES": TRUSTED_PROXY,
}


@pytest.fixture(scope="module")
def limited(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(databases, tmp_path_factory.mktemp("limited"), LIMITS) as stack:
        yield stack


@pytest.fixture(scope="module")
def bff_db(limited: Stack) -> Iterator[Engine]:
    engine = sync_engine(limited.databases.bff_url)
    yield engine
    engine.dispose()


def _org(stack: Stack) -> Org:
    return new_org(stack, source_address=fresh_address())


def _user(org: Org, role: str = "analyst") -> tuple[str, str]:
    """A new user's email and token; costs the admin one request and a fresh address one sign-in."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.test"
    with org.client() as admin:
        created = admin.post("/api/users", json={"email": email, "role": role, "password": TEST_PASSWORD})
    assert created.status_code == 201, created.text
    return email, login(org.stack, email, TEST_PASSWORD, source_address=fresh_address())


def _sign_in(stack: Stack, email: str, password: str, address: str | None = None) -> httpx.Response:
    with stack.client(source_address=address or fresh_address()) as client:
        return client.post("/api/auth/token", json={"email": email, "password": password})


def _assert_rate_limited(response: httpx.Response, policy: str) -> dict[str, Any]:
    body = assert_problem(response, 429, "RATE_LIMITED")
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1, response.headers
    limits = budget(response)
    assert (limits.name, limits.remaining) == (policy, 0)
    assert_always_headers(response)
    return body


# --- per user ------------------------------------------------------------------------------------


def test_a_user_has_a_per_minute_budget_counted_down_in_the_ratelimit_fields(limited: Stack, bff_db: Engine) -> None:
    org = _org(limited)
    with org.client() as admin:
        seen = [admin.get("/api/me") for _ in range(PER_MINUTE)]
        over = admin.get("/api/me")
        refused_write_id = f"rl-write-{uuid.uuid4().hex}"
        refused_write = admin.post(
            "/api/deals",
            json={"name": "Too Fast Tower", "asset_class": "office"},
            headers={"X-Request-ID": refused_write_id},
        )

    budgets = [budget(response) for response in seen]
    assert [response.status_code for response in seen] == [200] * PER_MINUTE
    assert {(b.name, b.quota, b.window) for b in budgets} == {("default", PER_MINUTE, 60)}
    assert [b.remaining for b in budgets] == list(range(PER_MINUTE - 1, -1, -1))
    assert all(0 < b.reset <= 60 for b in budgets)
    assert [b.reset for b in budgets] == sorted((b.reset for b in budgets), reverse=True)

    _assert_rate_limited(over, "default")
    assert int(over.headers["retry-after"]) <= 60
    assert int(over.headers["retry-after"]) == budget(over).reset

    # A refused write is still audited, once, as what it was for and who asked.
    _assert_rate_limited(refused_write, "default")
    rows = audit_rows(bff_db, refused_write_id)
    assert len(rows) == 1, rows
    assert (rows[0]["action"], rows[0]["status"], rows[0]["error_code"]) == ("deal.create", 429, "RATE_LIMITED")
    assert (rows[0]["org_id"], rows[0]["actor_role"]) == (org.org_id, "admin")
    assert rows[0]["actor_id"] is not None


def test_a_web_page_spends_one_unit_of_its_users_budget_whatever_it_reads(limited: Stack) -> None:
    """A deal page makes eight API reads in process; the user pays for the page, once."""
    org = _org(limited)
    _, token = _user(org, "gp")
    with org.stack.client(token, source_address=org.source_address) as gp:
        deal = gp.post("/api/deals", json={"name": "Budget Tower", "asset_class": "office"}).json()
    with httpx.Client(
        base_url=limited.bff.url,
        cookies={"cs_session": token},
        headers={"Accept": "text/html"},
        transport=httpx.HTTPTransport(local_address=org.source_address),
        timeout=30,
    ) as browser:
        first, second = (browser.get(f"/deals/{deal['id']}") for _ in range(2))
    assert (first.status_code, second.status_code) == (200, 200), first.text[:500]
    assert budget(first).remaining - budget(second).remaining == 1
    assert budget(second).remaining == PER_MINUTE - 3  # the create, and two pages


def test_users_do_not_share_a_budget_even_from_one_address(limited: Stack) -> None:
    org = _org(limited)
    _email, analyst_token = _user(org)
    with org.client() as admin:
        for _ in range(PER_MINUTE + 1):
            admin.get("/api/me")
        assert admin.get("/api/me").status_code == 429
    with limited.client(analyst_token, source_address=org.source_address) as analyst:
        response = analyst.get("/api/me")
    assert response.status_code == 200, response.text
    assert budget(response).remaining == PER_MINUTE - 1


def test_a_forged_token_spends_the_client_address_budget_not_the_named_users(limited: Stack) -> None:
    org = _org(limited)
    with org.client() as admin:
        victim = admin.get("/api/me").json()
    address = fresh_address()
    responses = []
    for _ in range(PER_MINUTE + 1):
        # Each a "fresh" token naming the victim, signed with a key the server does not have.
        forged = jwt.encode(
            {"sub": victim["id"], "org": org.org_id, "role": "admin", "jti": uuid.uuid4().hex},
            uuid.uuid4().hex,
            algorithm="HS256",
        )
        with limited.client(forged, source_address=address) as attacker:
            responses.append(attacker.get("/api/me"))
    assert [r.status_code for r in responses] == [401] * PER_MINUTE + [429]
    assert [budget(r).remaining for r in responses[:PER_MINUTE]] == list(range(PER_MINUTE - 1, -1, -1))
    _assert_rate_limited(responses[-1], "default")

    with org.client() as admin:
        # The first request of the admin (above) is the only one spent from their budget.
        assert budget(admin.get("/api/me")).remaining == PER_MINUTE - 2


# --- per client address before sign-in -----------------------------------------------------------


def test_anonymous_requests_are_limited_per_client_address(limited: Stack) -> None:
    address, neighbour = fresh_address(), fresh_address()
    with limited.client(source_address=address) as anonymous:
        answers = [anonymous.get("/api/me") for _ in range(PER_MINUTE)]
        over = anonymous.get("/api/deals")
        unknown_route = anonymous.get("/api/no-such-thing")
        probes = [anonymous.get(path) for path in ("/healthz", "/readyz", "/api/openapi.json")]
    assert [a.status_code for a in answers] == [401] * PER_MINUTE
    assert [budget(a).remaining for a in answers] == list(range(PER_MINUTE - 1, -1, -1))
    _assert_rate_limited(over, "default")
    _assert_rate_limited(unknown_route, "default")

    # Probes and the schema are never limited and carry no rate-limit fields.
    assert [p.status_code for p in probes] == [200, 200, 200]
    assert all("ratelimit" not in p.headers and "ratelimit-policy" not in p.headers for p in probes)

    with limited.client(source_address=neighbour) as other:
        assert budget(other.get("/api/me")).remaining == PER_MINUTE - 1


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_gets_no_fresh_budget(limited: Stack) -> None:
    # From 127.0.0.1 itself, a peer uvicorn's own proxy-header handling would believe by default;
    # only this test calls the module's stack anonymously from there.
    with limited.client(source_address="127.0.0.1") as anonymous:
        for _ in range(PER_MINUTE):
            assert anonymous.get("/api/me").status_code == 401
        spoofed = [anonymous.get("/api/me", headers={"X-Forwarded-For": fresh_public_address()}) for _ in range(3)]
    for response in spoofed:
        _assert_rate_limited(response, "default")


def test_a_trusted_proxy_names_the_client_by_the_right_most_untrusted_address(limited: Stack, bff_db: Engine) -> None:
    client_address, other_client = fresh_public_address(), fresh_public_address()
    with limited.client(source_address=TRUSTED_PROXY) as proxy:
        # The left part of the chain is whatever the client sent: it must not pick the budget.
        chain = [
            proxy.get("/api/me", headers={"X-Forwarded-For": f"{fresh_public_address()}, {client_address}"})
            for _ in range(PER_MINUTE)
        ]
        over = proxy.get("/api/me", headers={"X-Forwarded-For": client_address})
        other = proxy.get("/api/me", headers={"X-Forwarded-For": other_client})
        request_id = f"rl-xff-{uuid.uuid4().hex}"
        proxy.post(
            "/api/auth/token",
            json={"email": f"nobody-{uuid.uuid4().hex[:6]}@example.test", "password": "wrong-password"},
            headers={"X-Forwarded-For": other_client, "X-Request-ID": request_id},
        )
    assert [budget(r).remaining for r in chain] == list(range(PER_MINUTE - 1, -1, -1))
    _assert_rate_limited(over, "default")
    assert other.status_code == 401
    assert budget(other).remaining == PER_MINUTE - 1
    # The audit trail records the client, not the proxy.
    assert [row["client_ip"] for row in audit_rows(bff_db, request_id)] == [other_client]


# --- sign-in -------------------------------------------------------------------------------------


def test_sign_in_attempts_are_limited_per_client_address(limited: Stack) -> None:
    org = _org(limited)
    address = fresh_address()
    attempts = [
        _sign_in(limited, f"nobody-{uuid.uuid4().hex[:8]}@example.test", "wrong-password", address)
        for _ in range(LOGIN_PER_MINUTE)
    ]
    assert [a.status_code for a in attempts] == [401] * LOGIN_PER_MINUTE
    assert [(budget(a).name, budget(a).quota, budget(a).remaining) for a in attempts] == [
        ("login", LOGIN_PER_MINUTE, remaining) for remaining in range(LOGIN_PER_MINUTE - 1, -1, -1)
    ]
    # Even the right password is refused from this address now; another address is unaffected.
    _assert_rate_limited(_sign_in(limited, org.admin_email, TEST_PASSWORD, address), "login")
    assert _sign_in(limited, org.admin_email, TEST_PASSWORD).status_code == 200


def _fail_then_probe(stack: Stack, email: str, probe_password: str) -> tuple[list[int], httpx.Response]:
    """``ACCOUNT_FAILURES`` wrong passwords for ``email``, each from a new address, then one more try."""
    statuses = [_sign_in(stack, email, f"wrong-{uuid.uuid4().hex}").status_code for _ in range(ACCOUNT_FAILURES)]
    return statuses, _sign_in(stack, email, probe_password)


def test_failed_sign_ins_throttle_the_account_from_any_address_alike_for_unknown_emails(limited: Stack) -> None:
    org = _org(limited)
    email, _token = _user(org)
    known_statuses, known = _fail_then_probe(limited, email, TEST_PASSWORD)
    unknown_statuses, unknown = _fail_then_probe(limited, f"ghost-{uuid.uuid4().hex[:8]}@example.test", "anything")

    assert known_statuses == unknown_statuses == [401] * ACCOUNT_FAILURES
    known_body = _assert_rate_limited(known, "account")
    unknown_body = _assert_rate_limited(unknown, "account")
    for response in (known, unknown):
        limits = budget(response)
        assert (limits.quota, limits.window, limits.remaining) == (ACCOUNT_FAILURES, ACCOUNT_WINDOW, 0)
    # One answer, whether the email exists or not (and though the password was right).
    assert without_request_id(known_body) == without_request_id(unknown_body)
    assert known.headers.keys() == unknown.headers.keys()
    for response in (known, unknown):
        assert ACCOUNT_WINDOW - 60 <= int(response.headers["retry-after"]) <= ACCOUNT_WINDOW
    # Another spelling of the same address is the same account.
    _assert_rate_limited(_sign_in(limited, f"  {email.upper()} ", TEST_PASSWORD), "account")
    # Other accounts are not affected.
    assert _sign_in(limited, org.admin_email, TEST_PASSWORD).status_code == 200


def test_a_successful_sign_in_neither_resets_nor_spends_the_failure_budget(limited: Stack) -> None:
    org = _org(limited)
    email, _token = _user(org)
    outcomes = [_sign_in(limited, email, "wrong-password").status_code for _ in range(ACCOUNT_FAILURES - 1)]
    outcomes.append(_sign_in(limited, email, TEST_PASSWORD).status_code)  # not counted, not a reset
    outcomes.append(_sign_in(limited, email, "wrong-password").status_code)  # the last failure allowed
    assert outcomes == [401] * (ACCOUNT_FAILURES - 1) + [200, 401]
    _assert_rate_limited(_sign_in(limited, email, TEST_PASSWORD), "account")


def test_a_throttled_sign_in_is_audited_once(limited: Stack, bff_db: Engine) -> None:
    email = f"ghost-{uuid.uuid4().hex[:8]}@example.test"
    _fail_then_probe(limited, email, "x")
    request_id = f"rl-login-{uuid.uuid4().hex}"
    with limited.client(source_address=fresh_address()) as anonymous:
        response = anonymous.post(
            "/api/auth/token", json={"email": email, "password": "x"}, headers={"X-Request-ID": request_id}
        )
    _assert_rate_limited(response, "account")
    rows = audit_rows(bff_db, request_id)
    assert [(r["action"], r["status"], r["error_code"], r["actor_role"]) for r in rows] == [
        ("auth.login", 429, "RATE_LIMITED", "anonymous")
    ]


# --- Redis ----------------------------------------------------------------------------------------


def _sign_in_at(url: str, email: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=fresh_address())
    with httpx.Client(base_url=url, transport=transport) as client:
        return client.post("/api/auth/token", json={"email": email, "password": "wrong-password"})


def test_two_bffs_share_one_budget_through_redis(databases: Databases, tmp_path: Path, redis_prefix: str) -> None:
    env = {
        **LIMITS,
        "CORNERSTONE_REDIS_URL": REDIS_URL,
        "CORNERSTONE_REDIS_KEY_PREFIX": redis_prefix,
    }
    with running_stack(databases, tmp_path, env) as stack:
        second = start_server("bff", ["bff"], stack.env, free_port(), tmp_path)
        try:
            org = _org(stack)
            replicas = [stack.bff.url, second.url, stack.bff.url, second.url, second.url, stack.bff.url]
            answers = [
                httpx.get(f"{url}/api/me", headers={"Authorization": f"Bearer {org.admin_token}"}) for url in replicas
            ]
            assert [a.status_code for a in answers] == [200] * PER_MINUTE + [429]
            assert [budget(a).remaining for a in answers] == [*range(PER_MINUTE - 1, -1, -1), 0]

            # Failed sign-ins of one account add up across replicas too.
            email = f"ghost-{uuid.uuid4().hex[:8]}@example.test"
            attempts = [_sign_in_at(url, email) for url in (stack.bff.url, second.url, stack.bff.url, second.url)]
            assert [a.status_code for a in attempts] == [401] * ACCOUNT_FAILURES + [429]
            _assert_rate_limited(attempts[-1], "account")
        finally:
            second.stop()
    keys = redis.Redis.from_url(REDIS_URL).keys(f"{redis_prefix}:*")
    assert keys, "the counters were not kept in Redis"
    assert not any(email.encode() in key for key in keys), "emails must not be written to Redis"


@dataclass
class PrivateRedis:
    """A redis-server of one test's own, on a free port, to be killed and restarted."""

    executable: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: redis.Redis(port=self.port, socket_timeout=1).ping(), 10, f"redis-server on {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    executable = shutil.which("redis-server")
    if executable is None:
        if CI:
            pytest.fail("redis-server is required under CI=true")
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(executable, free_port(), tmp_path / "redis")
    server.start()
    yield server
    server.kill()


def _log_events(server: Server) -> list[str]:
    return [line for line in server.log_text().splitlines() if '"rate_limit_storage_' in line]


def test_redis_down_falls_back_to_per_process_limits_loudly_and_recovers(
    databases: Databases, tmp_path: Path, private_redis: PrivateRedis
) -> None:
    port = private_redis.port
    env = {**LIMITS, "CORNERSTONE_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    with running_stack(databases, tmp_path / "logs", env) as stack:
        org = _org(stack)
        with org.client() as admin:
            assert [budget(admin.get("/api/me")).remaining for _ in range(2)] == [PER_MINUTE - 1, PER_MINUTE - 2]

            private_redis.kill()
            # Still served, never a 500; still limited, now by this process's own counters.
            during = [admin.get("/api/me") for _ in range(PER_MINUTE + 1)]
            assert [r.status_code for r in during] == [200] * PER_MINUTE + [429]
            assert [budget(r).remaining for r in during] == [*range(PER_MINUTE - 1, -1, -1), 0]
            wait_until(
                lambda: any(
                    '"rate_limit_storage_unavailable"' in line and '"error"' in line for line in _log_events(stack.bff)
                ),
                10,
                "an error log line saying the rate-limit storage is unavailable",
            )

            # Redis back (empty): after the retry interval the counters are Redis's again.
            private_redis.start()
            wait_until(
                lambda: admin.get("/api/me").status_code == 200, 30, "limits served from Redis again", interval=0.25
            )
            assert any('"rate_limit_storage_recovered"' in line for line in _log_events(stack.bff))
            assert redis.Redis(port=port).keys("cornerstone:ratelimit:*")


def test_redis_unreachable_at_start_still_limits(databases: Databases, tmp_path: Path) -> None:
    env = {**LIMITS, "CORNERSTONE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    with running_stack(databases, tmp_path, env) as stack:
        with stack.client(source_address=fresh_address()) as anonymous:
            answers = [anonymous.get("/api/me") for _ in range(PER_MINUTE + 1)]
        assert [a.status_code for a in answers] == [401] * PER_MINUTE + [429]
        assert any('"rate_limit_storage_unavailable"' in line for line in _log_events(stack.bff))

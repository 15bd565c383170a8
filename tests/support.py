"""Test harness: databases per backend, real servers as subprocesses, and small API helpers."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import structlog
import uvicorn
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from cornerstone.bff.app import MIGRATIONS as BFF_MIGRATIONS
from cornerstone.bff.config import BffSettings
from cornerstone.bff.migrations import DATABASE_APP_ROLE as BFF_APP_ROLE
from cornerstone.kernel.app import MIGRATIONS as KERNEL_MIGRATIONS
from cornerstone.kernel.migrations import DATABASE_APP_ROLE as KERNEL_APP_ROLE
from cornerstone.kit.db import SQLITE_BUSY_TIMEOUT_MS, is_sqlite, run_migrations, sync_url
from cornerstone.ops.demo_evidence import demo_document
from cornerstone.ops.orgs import create_org_in

PG_ADMIN_DSN = os.environ.get("CORNERSTONE_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL_BASE = os.environ.get("CORNERSTONE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")
TEST_PASSWORD = "correct-horse-battery-staple"


@contextmanager
def logging_put_back() -> Iterator[None]:
    """Whatever the body does to logging (building an app configures it for a server process,
    writing to the stdout of that moment - pytest's capture, closed after the test), the test
    process's own logging and structlog setup are put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


def postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` and the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # noqa: BLE001 - polling tolerates transient errors
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sync_engine(url: str) -> Engine:
    """A blocking engine on a service database, for setup the API cannot do and for tampering."""
    engine = create_engine(sync_url(url))
    if is_sqlite(url):
        # Take the transaction handling from the driver so that BEGIN is ours: DDL and DML in one
        # `engine.begin()` block are then one SQLite transaction, as they are on PostgreSQL.
        @event.listens_for(engine, "connect")
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

        @event.listens_for(engine, "begin")
        def on_begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def append_only_lifted(engine: Engine, table: str) -> Iterator[Connection]:
    """What an attacker with database access does: drop the append-only trigger(s) of ``table``,
    write, and put the trigger back, all in one transaction (DDL is transactional on both
    backends), so no other connection ever sees the table unprotected."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:
        if sqlite:
            conn.exec_driver_sql(f"DROP TRIGGER {table}_no_update")
            conn.exec_driver_sql(f"DROP TRIGGER {table}_no_delete")
        else:
            conn.exec_driver_sql(f"DROP TRIGGER {table}_append_only ON {table}")
        yield conn
        # The DDL of cornerstone.kit.migration_helpers.append_only(table).
        if sqlite:
            for verb in ("UPDATE", "DELETE"):
                conn.exec_driver_sql(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        else:
            conn.exec_driver_sql(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
            )


class Served:
    """An ASGI app served by uvicorn in a thread on a free port, for the length of a ``with``: a real
    HTTP peer for client code (the kernel client's transport and answer mapping)."""

    def __init__(self, app: Any, keep_alive: int = 5) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, timeout_keep_alive=keep_alive)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        wait_until(lambda: self.server.started, 10, "the test server")
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Databases:
    """A kernel and a BFF database for one backend, migrated with the real migrations.

    On PostgreSQL each run creates its own databases and roles (unique names, dropped at the end):

    - ``kernel_app_url`` / ``bff_app_url``: what the services connect as. Login roles in the
      groups ``cornerstone_kernel_app`` / ``cornerstone_bff_app``; they own nothing, so
      row-level security binds them.
    - ``kernel_owner_url`` / ``bff_owner_url``: the role that owns the databases and tables; it
      runs the migrations and the operator commands (``*_MIGRATION_DATABASE_URL``).
    - ``kernel_url`` / ``bff_url``: the superuser, for setup the API cannot do and for playing an
      attacker with full database access (superusers bypass row-level security).

    On SQLite all three are the same file.
    """

    backend: str
    kernel_url: str
    bff_url: str
    data_dir: Path
    kernel_owner_url: str
    bff_owner_url: str
    kernel_app_url: str
    bff_app_url: str
    _pg_names: list[str] = field(default_factory=list)
    _pg_roles: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, backend: str, data_dir: Path) -> Databases:
        data_dir.mkdir(parents=True, exist_ok=True)
        if backend == "sqlite":
            kernel = f"sqlite:///{data_dir / 'kernel.sqlite3'}"
            bff = f"sqlite:///{data_dir / 'bff.sqlite3'}"
            dbs = cls(backend, kernel, bff, data_dir, kernel, bff, kernel, bff)
        else:
            dbs = cls._create_postgres(backend, data_dir)
        run_migrations(dbs.kernel_owner_url, KERNEL_MIGRATIONS)
        run_migrations(dbs.bff_owner_url, BFF_MIGRATIONS)
        return dbs

    @classmethod
    def _create_postgres(cls, backend: str, data_dir: Path) -> Databases:
        suffix = uuid.uuid4().hex[:10]
        kernel_db, bff_db = f"cs_test_kernel_{suffix}", f"cs_test_bff_{suffix}"
        owner, kernel_app, bff_app = (f"cs_test_{who}_{suffix}" for who in ("owner", "kernel_app", "bff_app"))
        passwords = {role: secrets.token_hex(16) for role in (owner, kernel_app, bff_app)}
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            for group in (KERNEL_APP_ROLE, BFF_APP_ROLE):
                ensure_group_role(conn, group)
            for role, group in ((owner, None), (kernel_app, KERNEL_APP_ROLE), (bff_app, BFF_APP_ROLE)):
                membership = f" IN ROLE {group}" if group else ""
                conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{passwords[role]}'{membership}")
            for name in (kernel_db, bff_db):
                conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')

        def url(role: str | None, database: str) -> str:
            base = make_url(f"{PG_URL_BASE}/{database}")
            if role is not None:
                base = base.set(username=role, password=passwords[role])
            return base.render_as_string(hide_password=False)

        return cls(
            backend,
            url(None, kernel_db),
            url(None, bff_db),
            data_dir,
            url(owner, kernel_db),
            url(owner, bff_db),
            url(kernel_app, kernel_db),
            url(bff_app, bff_db),
            [kernel_db, bff_db],
            [kernel_app, bff_app, owner],
        )

    def drop(self) -> None:
        if not self._pg_names:
            return
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            for name in self._pg_names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            # The group roles stay: they are shared by every run on this cluster.
            for role in self._pg_roles:
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')

    def env(self) -> dict[str, str]:
        """The services' settings: they connect as the app roles; operator commands as the owner."""
        return {
            "CORNERSTONE_DATA_DIR": str(self.data_dir),
            "CORNERSTONE_KERNEL_DATABASE_URL": self.kernel_app_url,
            "CORNERSTONE_BFF_DATABASE_URL": self.bff_app_url,
            "CORNERSTONE_KERNEL_MIGRATION_DATABASE_URL": self.kernel_owner_url,
            "CORNERSTONE_BFF_MIGRATION_DATABASE_URL": self.bff_owner_url,
        }


def ensure_group_role(conn: psycopg.Connection[Any], role: str) -> None:
    """Create a service's group role unless it exists (another run on this cluster may race us)."""
    conn.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {role} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END $$
        """
    )


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a test may have left it stopped
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(name: str, args: list[str], env: Mapping[str, str], port: int, log_dir: Path) -> Server:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-{port}.log"
    handle = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "cornerstone", *args, "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    handle.close()
    url = f"http://127.0.0.1:{port}"
    server = Server(name, process, url, log_path)

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited early with {process.returncode}:\n{server.log_text()[-3000:]}")
        return httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200

    wait_until(ready, 60, f"{name} /readyz")
    return server


@dataclass
class Stack:
    """A kernel and a BFF running as real servers, talking real HTTP to each other."""

    databases: Databases
    env: dict[str, str]
    kernel: Server
    bff: Server
    log_dir: Path

    @property
    def backend(self) -> str:
        return self.databases.backend

    def client(self, token: str | None = None, *, source_address: str | None = None) -> httpx.Client:
        """A client of the BFF; ``source_address`` (a loopback address such as ``127.0.3.4``) makes it
        a different client IP, for tests of per-address limits."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.HTTPTransport(local_address=source_address) if source_address else None
        return httpx.Client(base_url=self.bff.url, headers=headers, timeout=30.0, transport=transport)

    def start_kernel(self, port: int | None = None) -> Server:
        port = port or int(self.kernel.url.rsplit(":", 1)[1])
        self.kernel = start_server("kernel", ["kernel"], self.env, port, self.log_dir)
        return self.kernel

    def stop(self) -> None:
        self.bff.stop()
        self.kernel.stop()


def stack_bff_settings(stack: Stack, **overrides: Any) -> BffSettings:
    """Settings of a BFF built in the test process beside ``stack``: its databases, kernel and keys."""
    databases = stack.databases
    return BffSettings(
        data_dir=databases.data_dir,
        bff_database_url=databases.bff_app_url,
        bff_migration_database_url=databases.bff_owner_url,
        kernel_url=stack.kernel.url,
        service_key=stack.env["CORNERSTONE_SERVICE_KEY"],
        jwt_signing_key=stack.env["CORNERSTONE_JWT_SIGNING_KEY"],
        log_level="WARNING",
        **overrides,
    )


UNLIMITED_RATES = {
    "CORNERSTONE_RATE_LIMIT_PER_MINUTE": "1000000",
    "CORNERSTONE_LOGIN_RATE_LIMIT_PER_MINUTE": "1000000",
    "CORNERSTONE_LOGIN_FAILURES_PER_ACCOUNT": "1000000",
}


def stack_env(databases: Databases, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        **databases.env(),
        "CORNERSTONE_SERVICE_KEY": secrets.token_urlsafe(32),
        "CORNERSTONE_JWT_SIGNING_KEY": secrets.token_urlsafe(32),
        "CORNERSTONE_LOG_LEVEL": "INFO",
        # Every test signs in and calls from 127.0.0.1: the shared stacks get budgets no test
        # reaches. tests/bff/test_rate_limits.py sets real ones on stacks of its own.
        **UNLIMITED_RATES,
        **(extra or {}),
    }


def start_stack(databases: Databases, log_dir: Path, extra_env: Mapping[str, str] | None = None) -> Stack:
    env = stack_env(databases, extra_env)
    kernel_port = free_port()
    env["CORNERSTONE_KERNEL_URL"] = f"http://127.0.0.1:{kernel_port}"
    kernel = start_server("kernel", ["kernel"], env, kernel_port, log_dir)
    try:
        bff = start_server("bff", ["bff"], env, free_port(), log_dir)
    except BaseException:
        kernel.stop()
        raise
    return Stack(databases, env, kernel, bff, log_dir)


@dataclass
class Org:
    """A fresh tenant with an admin; ``user(role)`` adds and signs in more people."""

    stack: Stack
    org_id: str
    admin_token: str
    tokens: dict[str, str] = field(default_factory=dict)
    admin_email: str = ""
    source_address: str | None = None  # the loopback address its clients call from (None: 127.0.0.1)

    def client(self, role: str = "admin") -> httpx.Client:
        return self.stack.client(self.token(role), source_address=self.source_address)

    def token(self, role: str) -> str:
        if role == "admin":
            return self.admin_token
        if role not in self.tokens:
            self.tokens[role] = self.fresh_token(role)
        return self.tokens[role]

    def lender(self, deal_id: str) -> str:
        """The role key of an external user made the deal's lender (created once per deal)."""
        key = f"lender:{deal_id}"
        if key not in self.tokens:
            email = f"lender-{uuid.uuid4().hex[:8]}@example.test"
            with self.stack.client(self.admin_token, source_address=self.source_address) as admin:
                created = admin.post("/api/users", json={"email": email, "role": "external", "password": TEST_PASSWORD})
                assert created.status_code == 201, created.text
                party = admin.post(
                    f"/api/deals/{deal_id}/parties", json={"user_id": created.json()["id"], "deal_role": "lender"}
                )
                assert party.status_code == 201, party.text
            self.tokens[key] = login(self.stack, email, TEST_PASSWORD, source_address=self.source_address)
        return key

    def fresh_token(self, role: str) -> str:
        """A token of a new user with ``role``, for calls that end the caller's own tokens (logout)."""
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.test"
        with self.stack.client(self.admin_token, source_address=self.source_address) as admin:
            created = admin.post("/api/users", json={"email": email, "role": role, "password": TEST_PASSWORD})
            assert created.status_code == 201, created.text
        return login(self.stack, email, TEST_PASSWORD, source_address=self.source_address)


def login(stack: Stack, email: str, password: str, *, source_address: str | None = None) -> str:
    with stack.client(source_address=source_address) as client:
        response = client.post("/api/auth/token", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


T = TypeVar("T")


def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, also where this thread already runs a loop (Playwright's sync API keeps one
    running once a browser test has started): then in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def new_org(stack: Stack, name: str | None = None, *, source_address: str | None = None) -> Org:
    email = f"admin-{uuid.uuid4().hex[:10]}@example.test"
    # As `cornerstone org create` does it: on the migration URL (the tables' owner).
    settings = BffSettings(
        bff_database_url=stack.databases.bff_app_url,
        bff_migration_database_url=stack.databases.bff_owner_url,
        data_dir=stack.databases.data_dir,
    )
    created = _run_async(
        create_org_in(
            settings, name=name or f"org-{uuid.uuid4().hex[:6]}", admin_email=email, admin_password=TEST_PASSWORD
        )
    )
    token = login(stack, email, TEST_PASSWORD, source_address=source_address)
    return Org(stack, created.org_id, token, admin_email=email, source_address=source_address)


def create_deal(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": "Test Tower", "asset_class": "office", **fields}
    response = client.post("/api/deals", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def transition(client: httpx.Client, deal: Mapping[str, Any], to: str, **extra: Any) -> httpx.Response:
    return client.post(f"/api/deals/{deal['id']}/transitions", json={"to": to, "version": deal["version"], **extra})


@contextmanager
def running_stack(databases: Databases, log_dir: Path, extra_env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    stack = start_stack(databases, log_dir, extra_env)
    try:
        yield stack
    finally:
        stack.stop()


def supply_material(client: httpx.Client, deal_id: str, kind: str, truth_class: str) -> dict[str, Any]:
    """Post the material ``kind`` at ``truth_class``; a DOC one is backed by an uploaded PDF."""
    body: dict[str, Any] = {"type": kind, "truth_class": truth_class, "data": {"note": f"{kind} on file"}}
    if truth_class == "DOC":
        uploaded = client.post(
            f"/api/deals/{deal_id}/artifacts",
            files={"file": (f"{kind}.pdf", demo_document(kind, deal_id), "application/pdf")},
        )
        assert uploaded.status_code == 201, uploaded.text
        body["artifact_id"] = uploaded.json()["id"]
    response = client.post(f"/api/deals/{deal_id}/materials", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def finish_checklist(client: httpx.Client, deal_id: str) -> None:
    """Mark every required diligence item still open as done."""
    checklist = client.get(f"/api/deals/{deal_id}/checklist")
    assert checklist.status_code == 200, checklist.text
    for item in checklist.json()["items"]:
        if item["required"] and item["status"] not in ("done", "waived"):
            done = client.patch(f"/api/checklist-items/{item['id']}", json={"status": "done"})
            assert done.status_code == 200, done.text


def advance(org: Org, deal: Mapping[str, Any], to: str, *, mover: str = "gp") -> dict[str, Any]:
    """Move ``deal`` to ``to`` by supplying exactly what the gate's preview says is missing, as the
    people the gate names (HUMAN materials attested by the gp, DOC ones backed by an uploaded PDF,
    approvals from a gp and an admin, a lender party where closing needs one, the required diligence
    items done); returns the deal."""
    deal_id = str(deal["id"])
    with org.client(mover) as client:
        options = client.get(f"/api/deals/{deal_id}/transitions")
        assert options.status_code == 200, options.text
        option = next((o for o in options.json() if o["to"] == to), None)
        assert option is not None, f"no edge {deal.get('stage')} -> {to}: {options.json()}"
        for unmet in option["unmet"]:
            if unmet["kind"] == "material":
                # Where an all-equity attestation is one way to meet the item, the deal is bought all-equity.
                ways = [unmet, *unmet["alternatives"]]
                chosen = next((w for w in ways if w["material_type"] == "all_equity_attestation"), unmet)
                supply_material(client, deal_id, chosen["material_type"], chosen["min_truth_class"])
            elif unmet["kind"] == "field" and unmet.get("field") == "purchase_price":
                current = client.get(f"/api/deals/{deal_id}").json()
                patched = client.patch(
                    f"/api/deals/{deal_id}", json={"purchase_price": 25_000_000_00, "version": current["version"]}
                )
                assert patched.status_code == 200, patched.text
            elif unmet["kind"] == "approval" and unmet.get("check") == "approvals":
                voters = ["gp", "admin"] if "admin" in unmet["roles"] else ["gp"]
                if {"lender", "escrow"} & set(unmet["roles"]):  # deal roles: the lender party signs off
                    voters = ["gp", org.lender(deal_id)]
                for voter in voters:
                    with org.client(voter) as approver:
                        given = approver.post(f"/api/deals/{deal_id}/approvals", json={"to": to, "decision": "approve"})
                        assert given.status_code == 201, given.text
            elif unmet["kind"] == "check" and unmet.get("check") == "checklist_complete":
                finish_checklist(client, deal_id)
            elif unmet["kind"] == "check" and unmet.get("check") in {"resume_stage", "linked_calls_funded"}:
                raise AssertionError(f"advance() cannot satisfy {unmet}")
            else:
                raise AssertionError(f"advance() does not know how to satisfy {unmet}")
        current = client.get(f"/api/deals/{deal_id}").json()
        moved = transition(client, current, to)
        assert moved.status_code == 200, moved.text
        return dict(moved.json())


def walk(org: Org, deal: Mapping[str, Any], *stages: str) -> dict[str, Any]:
    """``advance`` through each of ``stages`` in turn."""
    current = dict(deal)
    for stage in stages:
        current = advance(org, current, stage)
    return current

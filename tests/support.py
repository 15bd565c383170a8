"""Test harness: databases per backend, real servers as subprocesses, and small API helpers."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from cornerstone.bff.app import MIGRATIONS as BFF_MIGRATIONS
from cornerstone.bff.config import BffSettings
from cornerstone.kernel.app import MIGRATIONS as KERNEL_MIGRATIONS
from cornerstone.kit.db import run_migrations
from cornerstone.ops.orgs import create_org_in

PG_ADMIN_DSN = os.environ.get("CORNERSTONE_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL_BASE = os.environ.get("CORNERSTONE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")
TEST_PASSWORD = "correct-horse-battery-staple"


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


@dataclass
class Databases:
    """A kernel and a BFF database for one backend, migrated with the real migrations."""

    backend: str
    kernel_url: str
    bff_url: str
    data_dir: Path
    _pg_names: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, backend: str, data_dir: Path) -> Databases:
        data_dir.mkdir(parents=True, exist_ok=True)
        if backend == "sqlite":
            dbs = cls(
                backend,
                f"sqlite:///{data_dir / 'kernel.sqlite3'}",
                f"sqlite:///{data_dir / 'bff.sqlite3'}",
                data_dir,
            )
        else:
            suffix = uuid.uuid4().hex[:10]
            names = [f"cs_test_kernel_{suffix}", f"cs_test_bff_{suffix}"]
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                for name in names:
                    conn.execute(f'CREATE DATABASE "{name}"')
            dbs = cls(backend, f"{PG_URL_BASE}/{names[0]}", f"{PG_URL_BASE}/{names[1]}", data_dir, names)
        run_migrations(dbs.kernel_url, KERNEL_MIGRATIONS)
        run_migrations(dbs.bff_url, BFF_MIGRATIONS)
        return dbs

    def drop(self) -> None:
        if not self._pg_names:
            return
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            for name in self._pg_names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def env(self) -> dict[str, str]:
        return {
            "CORNERSTONE_DATA_DIR": str(self.data_dir),
            "CORNERSTONE_KERNEL_DATABASE_URL": self.kernel_url,
            "CORNERSTONE_BFF_DATABASE_URL": self.bff_url,
        }


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

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.bff.url, headers=headers, timeout=30.0)

    def start_kernel(self, port: int | None = None) -> Server:
        port = port or int(self.kernel.url.rsplit(":", 1)[1])
        self.kernel = start_server("kernel", ["kernel"], self.env, port, self.log_dir)
        return self.kernel

    def stop(self) -> None:
        self.bff.stop()
        self.kernel.stop()


def stack_env(databases: Databases, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        **databases.env(),
        "CORNERSTONE_SERVICE_KEY": secrets.token_urlsafe(32),
        "CORNERSTONE_JWT_SIGNING_KEY": secrets.token_urlsafe(32),
        "CORNERSTONE_LOG_LEVEL": "INFO",
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

    def client(self, role: str = "admin") -> httpx.Client:
        return self.stack.client(self.token(role))

    def token(self, role: str) -> str:
        if role == "admin":
            return self.admin_token
        if role not in self.tokens:
            email = f"{role}-{uuid.uuid4().hex[:8]}@example.test"
            with self.stack.client(self.admin_token) as admin:
                created = admin.post("/api/users", json={"email": email, "role": role, "password": TEST_PASSWORD})
                assert created.status_code == 201, created.text
            self.tokens[role] = login(self.stack, email, TEST_PASSWORD)
        return self.tokens[role]


def login(stack: Stack, email: str, password: str) -> str:
    with stack.client() as client:
        response = client.post("/api/auth/token", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


def new_org(stack: Stack, name: str | None = None) -> Org:
    email = f"admin-{uuid.uuid4().hex[:10]}@example.test"
    settings = BffSettings(bff_database_url=stack.databases.bff_url, data_dir=stack.databases.data_dir)
    created = asyncio.run(
        create_org_in(
            settings, name=name or f"org-{uuid.uuid4().hex[:6]}", admin_email=email, admin_password=TEST_PASSWORD
        )
    )
    return Org(stack, created.org_id, login(stack, email, TEST_PASSWORD))


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

"""Kernel fixtures, one set per backend: the kernel app in-process, the kernel as a real server,
and blocking access to its database."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from cornerstone.kernel.app import create_app
from cornerstone.kernel.config import KernelSettings
from tests.kernel.helpers import KernelApi, KernelDb, TestClient
from tests.support import Databases, Server, free_port, start_server


@dataclass
class KernelServer:
    """The kernel running as its own process (``cornerstone kernel``), with the key it trusts."""

    server: Server
    key: str

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, timeout: float = 30.0) -> KernelApi:
        return KernelApi(httpx.Client(base_url=self.url, timeout=timeout), self.key)


@pytest.fixture(scope="session")
def kernel(databases: Databases) -> Iterator[KernelApi]:
    """The kernel app in-process (its lifespan runs), on this backend's migrated database."""
    key = secrets.token_urlsafe(32)
    settings = KernelSettings(
        kernel_database_url=databases.kernel_app_url, service_key=key, data_dir=databases.data_dir, log_level="WARNING"
    )
    with TestClient(create_app(settings)) as client:
        yield KernelApi(client, key)


@pytest.fixture(scope="session")
def kernel_db(databases: Databases) -> Iterator[KernelDb]:
    db = KernelDb(databases.kernel_url)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def kernel_server(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelServer]:
    key = secrets.token_urlsafe(32)
    env = {**databases.env(), "CORNERSTONE_SERVICE_KEY": key, "CORNERSTONE_LOG_LEVEL": "WARNING"}
    log_dir = tmp_path_factory.mktemp(f"kernel-logs-{databases.backend}")
    server = start_server("kernel", ["kernel"], env, free_port(), log_dir)
    yield KernelServer(server, key)
    server.stop()

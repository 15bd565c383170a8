"""Session fixtures: one migrated database pair per backend, one running stack per backend.

Backends: SQLite always; PostgreSQL when reachable. Under ``CI=true`` PostgreSQL is
required: an unreachable server fails the run instead of skipping. ``--db`` narrows the
run to one backend. Each test makes its own org, so tests never see each other's rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import Databases, Org, Stack, logging_put_back, new_org, postgres_available, start_stack

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["auto", "sqlite", "postgres"],
        default="auto",
        help="auto: SQLite, plus PostgreSQL when reachable (required under CI=true)",
    )


def _backends(config: pytest.Config) -> list[str]:
    choice = config.getoption("--db")
    if choice == "sqlite":
        return ["sqlite"]
    if choice == "postgres" or CI:
        return ["sqlite", "postgres"] if choice == "auto" else ["postgres"]
    return ["sqlite", "postgres"] if postgres_available() else ["sqlite"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "postgres: PostgreSQL-only (row-level security): runs on the postgres backend, skipped when PostgreSQL "
        "is not part of the run (never under CI=true, which requires it)",
    )
    backends = _backends(config)
    config.stash[_BACKENDS] = backends
    if "postgres" in backends and not postgres_available():
        raise pytest.UsageError("PostgreSQL is required (CI=true or --db=postgres) but 127.0.0.1:5432 is not reachable")


_BACKENDS = pytest.StashKey[list[str]]()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    backends: list[Any] = list(metafunc.config.stash[_BACKENDS])
    if metafunc.definition.get_closest_marker("postgres") is not None:
        backends = [name for name in backends if name == "postgres"] or [
            pytest.param(
                "postgres", marks=pytest.mark.skip(reason="PostgreSQL is not part of this run (--db / not reachable)")
            )
        ]
    metafunc.parametrize("backend", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def databases(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases.create(backend, tmp_path_factory.mktemp(f"data-{backend}"))
    yield dbs
    dbs.drop()


@pytest.fixture(scope="session")
def stack(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(databases, tmp_path_factory.mktemp(f"logs-{databases.backend}"))
    yield running
    running.stop()


@pytest.fixture
def org(stack: Stack) -> Org:
    return new_org(stack)


@pytest.fixture
def other_org(stack: Stack) -> Org:
    return new_org(stack)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _logging_put_back() -> Iterator[None]:
    """Logging is put back after every test, so a later one never logs into a closed capture."""
    with logging_put_back():
        yield

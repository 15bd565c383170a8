from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cornerstone.kit.db import SQLITE_BUSY_TIMEOUT_MS, Database, async_url, sync_url


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    async def pragmas() -> tuple[object, ...]:
        database = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
        try:
            async with database.session(write=True) as session:
                journal = (await session.execute(text("PRAGMA journal_mode"))).scalar()
                foreign_keys = (await session.execute(text("PRAGMA foreign_keys"))).scalar()
                busy = (await session.execute(text("PRAGMA busy_timeout"))).scalar()
            return journal, foreign_keys, busy
        finally:
            await database.dispose()

    assert asyncio.run(pragmas()) == ("wal", 1, SQLITE_BUSY_TIMEOUT_MS)


def test_a_failed_unit_of_work_leaves_nothing_behind(tmp_path: Path) -> None:
    async def scenario() -> int:
        database = Database(f"sqlite:///{tmp_path / 'y.sqlite3'}")
        try:
            async with database.session(write=True) as session:
                await session.execute(text("CREATE TABLE t (v INTEGER)"))
            try:
                async with database.session(write=True) as session:
                    await session.execute(text("INSERT INTO t VALUES (1)"))
                    raise RuntimeError("boom")
            except RuntimeError:
                pass
            async with database.session() as session:
                return int((await session.execute(text("SELECT count(*) FROM t"))).scalar_one())
        finally:
            await database.dispose()

    assert asyncio.run(scenario()) == 0


def test_urls_pick_the_right_drivers() -> None:
    assert async_url("sqlite:///a.db").drivername == "sqlite+aiosqlite"
    assert sync_url("sqlite:///a.db").drivername == "sqlite"
    assert async_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert sync_url("postgresql://u@h/db").drivername == "postgresql+psycopg"


def test_the_session_scopes_are_the_same_api_on_sqlite(tmp_path: Path) -> None:
    """SQLite has no row-level security: the scopes are accepted (and ignored), misuse is refused alike."""

    async def scenario() -> list[int]:
        database = Database(f"sqlite:///{tmp_path / 'z.sqlite3'}")
        try:
            async with database.session(write=True, org_id="org-a") as session:
                await session.execute(text("CREATE TABLE t (v INTEGER)"))
                await session.execute(text("INSERT INTO t VALUES (1)"))
            seen = []
            for scope in ({"org_id": "org-a"}, {"sign_in_email": "a@example.test"}, {"all_orgs": True}, {}):
                async with database.session(**scope) as session:  # type: ignore[arg-type]
                    seen.append(int((await session.execute(text("SELECT count(*) FROM t"))).scalar_one()))
            return seen
        finally:
            await database.dispose()

    assert asyncio.run(scenario()) == [1, 1, 1, 1]


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({"org_id": "a", "all_orgs": True}, "at most one scope"),
        ({"org_id": "a", "sign_in_email": "x@example.test"}, "at most one scope"),
        ({"org_id": ""}, "must not be empty"),
        ({"write": True, "all_orgs": True}, "reads only"),
        ({"write": True, "sign_in_email": "x@example.test"}, "reads only"),
    ],
)
def test_a_session_refuses_a_scope_that_makes_no_sense(tmp_path: Path, scope: dict[str, Any], message: str) -> None:
    async def scenario() -> None:
        database = Database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
        try:
            async with database.session(**scope):
                pass
        finally:
            await database.dispose()

    with pytest.raises(ValueError, match=message):
        asyncio.run(scenario())

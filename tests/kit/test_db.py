from __future__ import annotations

import asyncio
from pathlib import Path

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

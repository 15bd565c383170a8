"""``Database.read_one``: a hot single-row read outside any unit of work. On SQLite it runs on a
blocking ``query_only`` connection and waits for a locked file on the async engine instead; on
PostgreSQL the org is set first, so row-level security applies as in ``Database.session``."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import bindparam, create_engine, insert, select, text
from sqlalchemy.exc import OperationalError

from cornerstone.kernel.models import DealRow
from cornerstone.kit.clock import utcnow
from cornerstone.kit.db import Database
from tests.support import Databases

DEALS = DealRow.__table__
BY_ID = select(DEALS).where(DEALS.c.id == bindparam("deal_id"))


def _deal(org_id: str) -> dict[str, object]:
    now = utcnow()
    return {
        "id": uuid.uuid4().hex,
        "org_id": org_id,
        "name": "Read Tower",
        "asset_class": "office",
        "currency": "USD",
        "stage": "sourcing",
        "version": 1,
        "created_by": "test",
        "created_at": now,
        "updated_at": now,
    }


def _sqlite_with_table(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'r.sqlite3'}"

    async def create() -> None:
        database = Database(url)
        try:
            async with database.session(write=True) as session:
                await session.run_sync(lambda sync: DEALS.create(sync.connection()))
        finally:
            await database.dispose()

    asyncio.run(create())
    return url


def test_on_sqlite_a_row_is_read_with_its_types_and_the_reader_cannot_write(tmp_path: Path) -> None:
    url = _sqlite_with_table(tmp_path)
    row = _deal("org-a")

    async def scenario() -> None:
        database = Database(url)
        try:
            async with database.session(write=True, org_id="org-a") as session:
                await session.execute(insert(DEALS).values(**row))
            found = await database.read_one(BY_ID, {"deal_id": row["id"]}, org_id="org-a")
            assert found is not None
            assert (found.id, found.name, found.version) == (row["id"], "Read Tower", 1)
            assert found.created_at.replace(tzinfo=None) == row["created_at"].replace(tzinfo=None)  # type: ignore[attr-defined]
            assert await database.read_one(BY_ID, {"deal_id": "nope"}, org_id="org-a") is None
            # Its blocking connection is query_only: a write through it is refused, never retried elsewhere.
            with pytest.raises(OperationalError, match="readonly"):
                await database.read_one(
                    insert(DEALS).values(**_deal("org-a")).returning(DEALS.c.id), {}, org_id="org-a"
                )
            async with database.session() as session:
                assert (await session.execute(text("SELECT count(*) FROM deals"))).scalar_one() == 1
        finally:
            await database.dispose()

    asyncio.run(scenario())


def test_on_sqlite_the_kept_open_reader_sees_every_commit_and_survives_a_failed_read(tmp_path: Path) -> None:
    """read_one keeps one SQLite connection open across reads: each read must still see what was
    committed since (no snapshot held between statements), and a read that fails must not leave it broken."""
    url = _sqlite_with_table(tmp_path)
    row = _deal("org-a")

    async def scenario() -> None:
        database = Database(url)
        try:
            async with database.session(write=True, org_id="org-a") as session:
                await session.execute(insert(DEALS).values(**row))
            for version in (1, 2, 3):
                if version > 1:
                    async with database.session(write=True, org_id="org-a") as session:
                        await session.execute(DEALS.update().where(DEALS.c.id == row["id"]).values(version=version))
                found = await database.read_one(BY_ID, {"deal_id": row["id"]}, org_id="org-a")
                assert found is not None
                assert found.version == version
            with pytest.raises(OperationalError):
                await database.read_one(text("SELECT * FROM no_such_table"), {}, org_id="org-a")
            found = await database.read_one(BY_ID, {"deal_id": row["id"]}, org_id="org-a")
            assert found is not None
            assert found.version == 3
        finally:
            await database.dispose()

    asyncio.run(scenario())


def test_on_sqlite_a_locked_file_is_waited_for_on_the_async_engine(tmp_path: Path) -> None:
    """A lock the blocking reader must wait for (here: a rollback-journal file under an exclusive
    write) outlasts its short busy timeout: the read is then answered by the async engine once the
    lock goes, not refused and not waited for on the event loop."""
    path = tmp_path / "locked.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    DEALS.create(engine)  # a fresh file in SQLite's default rollback-journal mode
    row = _deal("org-a")
    with engine.begin() as conn:
        conn.execute(insert(DEALS).values(**row))
    engine.dispose()
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.5, locker.execute, ("COMMIT",))

    async def scenario() -> tuple[object, float]:
        database = Database(f"sqlite:///{path}")
        try:
            started = time.monotonic()
            release.start()
            found = await database.read_one(BY_ID, {"deal_id": row["id"]}, org_id="org-a")
            return (found.id if found else None), time.monotonic() - started
        finally:
            await database.dispose()

    try:
        found_id, waited = asyncio.run(scenario())
    finally:
        release.join()
        locker.close()
    assert found_id == row["id"]
    assert waited >= 0.4  # it waited for the lock (the blocking reader gives up after 50 ms)


@pytest.mark.postgres
def test_on_postgresql_the_org_is_set_so_row_level_security_applies(databases: Databases) -> None:
    """The statement here carries no org condition at all: only row-level security keeps the other
    org's deal out, and it does because read_one sets the org first."""
    mine, theirs = _deal("org-mine"), _deal("org-theirs")

    async def scenario() -> tuple[object, object]:
        owner = Database(databases.kernel_url)  # the superuser: sets up rows of both orgs
        app = Database(databases.kernel_app_url)  # the service's role: row-level security binds it
        try:
            async with owner.session(write=True) as session:
                await session.execute(insert(DEALS), [mine, theirs])
            seen = await app.read_one(BY_ID, {"deal_id": mine["id"]}, org_id="org-mine")
            hidden = await app.read_one(BY_ID, {"deal_id": theirs["id"]}, org_id="org-mine")
            return (seen.id if seen else None), hidden
        finally:
            await owner.dispose()
            await app.dispose()

    assert asyncio.run(scenario()) == (mine["id"], None)

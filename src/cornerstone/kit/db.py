"""Database engines, sessions and migrations, for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode with ``foreign_keys=ON`` and a busy timeout. Writes on SQLite
open their transaction with ``BEGIN IMMEDIATE`` so two writers queue on the lock
instead of failing half-way with a stale snapshot; reads use a deferred ``BEGIN``.
PostgreSQL is reached through psycopg 3, for the app (async) and migrations (sync).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from alembic import command
from alembic.config import Config
from fastapi import Depends, Request
from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 10_000


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}


def _with_driver(url: str, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ValueError(f"unsupported database backend: {backend}")
    return parsed.set(drivername=drivers[backend])


def sync_url(url: str) -> URL:
    """The URL migrations and operator tools use (sqlite3 / psycopg, blocking)."""
    return _with_driver(url, _SYNC_DRIVERS)


def async_url(url: str) -> URL:
    """The URL the services use (aiosqlite / psycopg async; psycopg 3 serves both)."""
    return _with_driver(url, _ASYNC_DRIVERS)


def ensure_sqlite_parent(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _install_sqlite_pragmas(sync_engine: Any, begin_statement: str) -> None:
    @event.listens_for(sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # The driver's own transaction handling is turned off so that BEGIN is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin_statement)


class Database:
    """One service's database: a read engine and a write engine (the same pool on PostgreSQL)."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        if self.is_sqlite:
            ensure_sqlite_parent(url)
            self.read_engine: AsyncEngine = create_async_engine(async_url(url))
            self.write_engine: AsyncEngine = create_async_engine(async_url(url))
            _install_sqlite_pragmas(self.read_engine.sync_engine, "BEGIN")
            _install_sqlite_pragmas(self.write_engine.sync_engine, "BEGIN IMMEDIATE")
        else:
            engine = create_async_engine(
                async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self.read_engine = engine
            self.write_engine = engine
        self._read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False)
        self._write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False, autoflush=False)

    @asynccontextmanager
    async def session(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends normally, rolls back on any error."""
        maker = self._write_sessions if write else self._read_sessions
        async with maker() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.read_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()


def run_migrations(url: str, script_location: Path) -> None:
    """Bring one service's database to the newest revision of its own Alembic history."""
    ensure_sqlite_parent(url)
    config = Config()
    config.set_main_option("script_location", str(script_location))
    # configparser treats "%" as interpolation; a password may contain one.
    rendered = sync_url(url).render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", rendered)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def run_alembic_env(target_metadata: MetaData) -> None:
    """The body of each service's migrations/env.py: online migrations on a blocking connection."""
    from alembic import context
    from sqlalchemy import create_engine

    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url)
    if is_sqlite(url):

        @event.listens_for(engine, "connect")
        def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=is_sqlite(url),
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.session() as session:
        yield session


async def _write_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.session(write=True) as session:
        yield session


# Request-scoped units of work over ``app.state.database``. scope="function": the commit
# happens when the endpoint returns, before the response is sent, so a client never sees
# success for a write that did not commit.
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
WriteSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]

"""Database engines, sessions and migrations, for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode with ``foreign_keys=ON`` and a busy timeout. Writes on SQLite
open their transaction with ``BEGIN IMMEDIATE`` so two writers queue on the lock
instead of failing half-way with a stale snapshot; reads use a deferred ``BEGIN``.
PostgreSQL is reached through psycopg 3, for the app (async) and migrations (sync).

Tenancy underneath the application (PostgreSQL): every tenant table has row-level security
(``kit.migration_helpers.tenant_table``) keyed on the transaction-local setting ``app.org_id``.
``Database.session(org_id=...)`` sets it with ``set_config(..., true)`` as the first statement
of the unit of work, so an unscoped query sees the caller's org and nothing else, and a
session with no scope sees no tenant row at all. Two narrow exceptions exist, each keyed on a
setting of its own: ``sign_in_email`` (the one ``users`` row with that email, for sign-in) and
``all_orgs`` (read-only listings across orgs, honoured only for the tables' owner, i.e. the
operator commands on the migration URL). SQLite has no row-level security: the same calls are
accepted and the application-level scoping in the repositories is the only wall there.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Executable, MetaData, create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, Row, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 10_000
# ``Database.read_one`` on SQLite waits at most this long for a lock (WAL readers almost never
# wait) before it leaves the read to the async engine, so the event loop is never held for long.
SQLITE_INLINE_READ_BUSY_TIMEOUT_MS = 50
_SQLITE_LOCK_ERRORS = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

# Transaction-local settings the row-level security policies read (see migration_helpers).
ORG_SETTING = "app.org_id"
SIGN_IN_EMAIL_SETTING = "app.sign_in_email"
ALL_ORGS_SETTING = "app.all_orgs"
SWEEP_EXPIRED_SETTING = "app.sweep_expired"

# On PostgreSQL: may the connected role read across orgs? Only the tables' owner (or a member of
# it) has the ``operator_read`` policy; superusers and BYPASSRLS roles skip policies altogether.
_CAN_READ_ALL_ORGS = text(
    """
    SELECT NOT EXISTS (
        SELECT 1 FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND c.relrowsecurity
          AND NOT pg_has_role(current_user, c.relowner, 'USAGE')
    ) OR (SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user)
    """
)


_ROLE_BYPASSES_ROW_SECURITY = text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")


class CrossOrgReadRefused(RuntimeError):
    """``all_orgs=True`` on a connection whose role the ``operator_read`` policies do not cover."""


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


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Connections of a ``Database``'s pools right now, summed over its engines (for the metrics)."""

    checked_out: int
    idle: int
    max_connections: int | None  # pool size plus overflow; None when some pool has no bound


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
        self._inline_engine: Engine | None = None  # SQLite: read_one's blocking reader, made on first use
        self._inline_connection_: Connection | None = None

    @asynccontextmanager
    async def session(
        self,
        *,
        write: bool = False,
        org_id: str | None = None,
        sign_in_email: str | None = None,
        all_orgs: bool = False,
        sweep_expired: bool = False,
    ) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends normally, rolls back on any error.

        At most one scope: ``org_id`` (the tenant every statement is confined to), or
        ``sign_in_email`` (read the one user with that email: sign-in, before any org is
        known), or ``all_orgs`` (read-only, owner role only: operator listings), or
        ``sweep_expired`` (the sweeper: only rows already past their ``expires_at``, in every
        org, of the tables with an ``expired_sweep`` policy). With none, PostgreSQL shows no
        tenant rows at all. On SQLite the scope is accepted and ignored.
        """
        setting = _scope_setting(
            write=write, org_id=org_id, sign_in_email=sign_in_email, all_orgs=all_orgs, sweep_expired=sweep_expired
        )
        maker = self._write_sessions if write else self._read_sessions
        async with maker() as session, session.begin():
            if setting is not None and not self.is_sqlite:
                name, value = setting
                # Transaction-local (is_local = true): it ends with the unit of work, so a pooled
                # connection never carries one request's org into the next.
                await session.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})
                if all_orgs and not (await session.execute(_CAN_READ_ALL_ORGS)).scalar():
                    raise CrossOrgReadRefused(
                        "reading across orgs needs the role that owns the tables: use the migration database URL"
                    )
            yield session

    async def row_security_bypass(self) -> str | None:
        """Why the connected role skips row-level security (``"superuser"``, ``"BYPASSRLS"``), or None.

        A service connected that way has only the application's scoping between tenants; the
        services warn about it at start-up. SQLite has no row-level security to bypass: None.
        """
        if self.is_sqlite:
            return None
        async with self.read_engine.connect() as connection:
            row = (await connection.execute(_ROLE_BYPASSES_ROW_SECURITY)).one()
        if row.rolsuper:
            return "superuser"
        if row.rolbypassrls:
            return "BYPASSRLS"
        return None

    def pool_stats(self) -> PoolStats:
        """In use, idle in the pools, and the most the pools may open. Every engine here has a
        ``QueuePool`` (SQLite files and PostgreSQL alike); another pool kind would count as none."""
        checked_out = idle = 0
        max_connections: int | None = 0
        for engine in {id(engine): engine for engine in (self.read_engine, self.write_engine)}.values():
            pool = engine.pool
            if not isinstance(pool, QueuePool):
                continue
            checked_out += pool.checkedout()
            idle += pool.checkedin()
            # QueuePool has no public accessor for its overflow bound; -1 means unbounded.
            overflow = int(getattr(pool, "_max_overflow", -1))
            if max_connections is not None:
                max_connections = max_connections + pool.size() + overflow if overflow >= 0 else None
        return PoolStats(checked_out=checked_out, idle=idle, max_connections=max_connections)

    async def read_one(self, statement: Executable, params: dict[str, Any], *, org_id: str) -> Row[Any] | None:
        """The first row of one read-only ``statement`` in the tenant ``org_id``, read on its own: for
        hot single-row reads (a deal by id) that need neither the ORM nor a unit of work of their own.

        On SQLite the statement runs on a blocking, ``query_only`` connection in the calling thread.
        A lookup by key takes tens of microseconds there, while aiosqlite hands every step of it
        (begin, cursor, execute, fetch, close, rollback) to its worker thread and back, and under load
        each of those hops waits for the GIL - far longer than the query. If the file is locked (WAL
        readers almost never are) the read goes to the async engine instead of holding the loop.
        On PostgreSQL it runs on the read engine with the org set first, as ``session`` does, so
        row-level security applies unchanged. The statement must carry the org condition itself too:
        SQLite has no row-level security.
        """
        if self.is_sqlite:
            inline = self._inline_connection()
            try:
                found = inline.execute(statement, params).first()
                # Ends SQLAlchemy's own bookkeeping of the statement; the connection is in autocommit, so
                # nothing reaches SQLite and no read snapshot outlives the statement.
                inline.rollback()
                return found
            except OperationalError as exc:
                self._close_inline_connection()
                if getattr(exc.orig, "sqlite_errorcode", None) not in _SQLITE_LOCK_ERRORS:
                    raise
                # Locked: the async path below waits for the lock without holding the loop.
            except BaseException:
                self._close_inline_connection()
                raise
        async with self.read_engine.connect() as connection:
            if not self.is_sqlite:
                await connection.execute(
                    text("SELECT set_config(:name, :value, true)"), {"name": ORG_SETTING, "value": org_id}
                )
            row = (await connection.execute(statement, params)).first()
            await connection.rollback()
        return row

    def _inline_connection(self) -> Connection:
        """read_one's one kept-open SQLite connection: only the event loop's thread uses it, one statement
        at a time (nothing awaits while it is in use), so checking a connection out of a pool and back
        in again on every read - a third of the read's cost - buys nothing."""
        if self._inline_connection_ is None:
            self._inline_connection_ = self._inline_reader().connect()
        return self._inline_connection_

    def _close_inline_connection(self) -> None:
        connection, self._inline_connection_ = self._inline_connection_, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def _inline_reader(self) -> Engine:
        if self._inline_engine is None:
            engine = create_engine(sync_url(self.url), connect_args={"check_same_thread": False})

            @event.listens_for(engine, "connect")
            def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
                # Autocommit: each statement is its own read transaction, no BEGIN/ROLLBACK round.
                dbapi_connection.isolation_level = None
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA query_only=ON")
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_INLINE_READ_BUSY_TIMEOUT_MS}")
                cursor.close()

            self._inline_engine = engine
        return self._inline_engine

    async def ping(self) -> None:
        async with self.read_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        self._close_inline_connection()
        if self._inline_engine is not None:
            self._inline_engine.dispose()
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()


def _scope_setting(
    *, write: bool, org_id: str | None, sign_in_email: str | None, all_orgs: bool, sweep_expired: bool
) -> tuple[str, str] | None:
    chosen = [scope for scope in (org_id is not None, sign_in_email is not None, all_orgs, sweep_expired) if scope]
    if len(chosen) > 1:
        raise ValueError("a session has at most one scope: org_id, sign_in_email, all_orgs or sweep_expired")
    if org_id is not None:
        if not org_id:
            raise ValueError("org_id must not be empty")
        return ORG_SETTING, org_id
    if sign_in_email is not None:
        if write:
            raise ValueError("a sign-in lookup reads only")
        return SIGN_IN_EMAIL_SETTING, sign_in_email
    if all_orgs:
        if write:
            raise ValueError("all_orgs reads only: writes are always scoped to one org")
        return ALL_ORGS_SETTING, "on"
    if sweep_expired:
        return SWEEP_EXPIRED_SETTING, "on"
    return None


async def warn_if_row_security_bypassed(database: Database, log: Any) -> None:
    """Log a warning when the service's database role skips row-level security (see above)."""
    try:
        reason = await database.row_security_bypass()
    except Exception:  # the database may not be up yet: /readyz reports that, start-up goes on
        log.warning("row_security_check_failed", exc_info=True)
        return
    if reason is not None:
        log.warning(
            "database_role_bypasses_row_level_security",
            reason=reason,
            detail="connect as the service's app role: tenants are then separated by the application alone",
        )


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


APP_ROLE_OPTION = "cornerstone_app_role"


def run_alembic_env(target_metadata: MetaData, *, app_role: str) -> None:
    """The body of each service's migrations/env.py: online migrations on a blocking connection.

    ``app_role`` is the group role the service's runtime login role belongs to; migrations
    grant it exactly the privileges the service needs (``migration_helpers.tenant_table``).
    """
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
            cornerstone_app_role=app_role,  # APP_ROLE_OPTION, read by migration_helpers
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()

"""Row-level security on PostgreSQL: the database itself keeps each org's rows to that org.

The application connects as an app role that owns nothing; every tenant table has its
policies forced. These tests talk SQL to the databases directly, as each role, with unscoped
queries (no ``WHERE org_id``) — the mistake row-level security is there to contain.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    Text,
    create_engine,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from cornerstone.bff.models import Base as BffBase
from cornerstone.bff.models import UserRow
from cornerstone.kernel.models import Base as KernelBase
from cornerstone.kernel.models import DealRow
from cornerstone.kit.db import CrossOrgReadRefused, Database, sync_url
from tests.support import Databases, Stack, create_deal, free_port, new_org, start_server, wait_until

pytestmark = pytest.mark.postgres

# Every table of both services, with the column its rows are scoped by. A new table fails
# test_every_table_is_classified until it is added here (and sealed by tenant_table()).
TENANT_TABLES: dict[str, dict[str, str]] = {
    "kernel": {
        "deals": "org_id",
        "events": "org_id",
        "event_checkpoints": "org_id",
        "funds": "org_id",
        "fund_valuations": "org_id",
        "investors": "org_id",
        "commitments": "org_id",
        "capital_calls": "org_id",
        "capital_call_allocations": "org_id",
        "distributions": "org_id",
        "distribution_allocations": "org_id",
        "ledger_entries": "org_id",
        "deal_parties": "org_id",
        "approvals": "org_id",
        "material_revisions": "org_id",
        "checklist_item_revisions": "org_id",
        "gate_overrides": "org_id",
        "org_settings": "org_id",
        "money_operations": "org_id",
        "artifacts": "org_id",
    },
    "bff": {
        "orgs": "id",
        "users": "org_id",
        "audit_records": "org_id",
        "audit_checkpoints": "org_id",
        "revoked_tokens": "org_id",
        "idempotency_records": "org_id",
    },
}
METADATA = {"kernel": KernelBase.metadata, "bff": BffBase.metadata}
# What each service's app role may do; everything else must be refused.
PRIVILEGES: dict[str, set[str]] = {
    "deals": {"SELECT", "INSERT", "UPDATE"},
    "events": {"SELECT", "INSERT"},
    "event_checkpoints": {"SELECT", "INSERT"},
    "audit_checkpoints": {"SELECT", "INSERT"},
    "orgs": {"SELECT"},
    "users": {"SELECT", "INSERT", "UPDATE"},
    "audit_records": {"SELECT", "INSERT"},
    "revoked_tokens": {"SELECT", "INSERT", "DELETE"},
    "idempotency_records": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    # Money: nothing is ever deleted; what moved (ledger, commitments, marks) is never changed.
    "funds": {"SELECT", "INSERT"},
    "fund_valuations": {"SELECT", "INSERT"},
    "investors": {"SELECT", "INSERT"},
    "commitments": {"SELECT", "INSERT"},
    "capital_calls": {"SELECT", "INSERT", "UPDATE"},
    "capital_call_allocations": {"SELECT", "INSERT", "UPDATE"},
    "distributions": {"SELECT", "INSERT", "UPDATE"},
    "distribution_allocations": {"SELECT", "INSERT"},
    "ledger_entries": {"SELECT", "INSERT"},
    "money_operations": {"SELECT", "INSERT"},
    # Evidence: never deleted; a material or checklist item changes by a new revision, an approval only by withdrawal.
    "deal_parties": {"SELECT", "INSERT"},
    "approvals": {"SELECT", "INSERT", "UPDATE"},
    "material_revisions": {"SELECT", "INSERT"},
    "checklist_item_revisions": {"SELECT", "INSERT"},
    "gate_overrides": {"SELECT", "INSERT", "UPDATE"},
    "org_settings": {"SELECT", "INSERT", "UPDATE"},
    # Artifacts: an upload is a new row; none is ever changed or deleted.
    "artifacts": {"SELECT", "INSERT"},
}
TABLES = [(service, table) for service, tables in TENANT_TABLES.items() for table in tables]
RLS_REFUSED = "row-level security"
NO_PRIVILEGE = "permission denied"


def engine_for(url: str) -> Engine:
    # No pool: every `begin()` is a fresh session, so no setting can linger from a previous test.
    return create_engine(sync_url(url), poolclass=NullPool)


class Roles:
    """Blocking engines on one service's database, as its app role, its owner and the superuser."""

    def __init__(self, app_url: str, owner_url: str, superuser_url: str) -> None:
        self.app = engine_for(app_url)
        self.owner = engine_for(owner_url)
        self.superuser = engine_for(superuser_url)
        self.app_role = str(make_url(app_url).username)

    def dispose(self) -> None:
        for engine in (self.app, self.owner, self.superuser):
            engine.dispose()


@pytest.fixture(scope="module")
def roles(databases: Databases) -> Iterator[dict[str, Roles]]:
    by_service = {
        "kernel": Roles(databases.kernel_app_url, databases.kernel_owner_url, databases.kernel_url),
        "bff": Roles(databases.bff_app_url, databases.bff_owner_url, databases.bff_url),
    }
    yield by_service
    for engine_set in by_service.values():
        engine_set.dispose()


def fake_row(table: Table, column: str, org_id: str) -> dict[str, Any]:
    """A row of ``table`` for ``org_id``: every NOT NULL column filled, unique where it could clash."""
    row: dict[str, Any] = {}
    for col in table.columns:
        if col.name == column:
            row[col.name] = org_id
        elif col.nullable and not col.primary_key:
            continue
        elif isinstance(col.type, Boolean):
            row[col.name] = True
        elif isinstance(col.type, Integer):
            row[col.name] = random.randrange(1, 2**31)
        elif isinstance(col.type, DateTime):
            row[col.name] = datetime.now(UTC)
        elif isinstance(col.type, Date):
            row[col.name] = datetime.now(UTC).date()
        elif isinstance(col.type, String | Text):
            row[col.name] = uuid.uuid4().hex[: getattr(col.type, "length", None) or 32]
        else:
            raise AssertionError(f"fake_row cannot fill {table.name}.{col.name} ({col.type})")
    return row


def scoped(conn: Connection, org_id: str | None = None, **settings: str) -> Connection:
    """Set ``app.org_id`` (and any other ``app.*`` setting) for the rest of the transaction."""
    values = {"org_id": org_id, **settings} if org_id is not None else settings
    for name, value in values.items():
        conn.execute(text("SELECT set_config(:name, :value, true)"), {"name": f"app.{name}", "value": value})
    return conn


def in_one_transaction(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


@pytest.fixture(scope="module")
def seeded(roles: dict[str, Roles]) -> dict[str, Any]:
    """Two fresh orgs, A with two rows in every tenant table (one for ``orgs``), B with one,
    written by the superuser so that nothing here depends on the code under test."""
    org_a, org_b = uuid.uuid4().hex, uuid.uuid4().hex
    counts: dict[str, int] = {}
    emails: dict[str, str] = {}
    for service, tables in TENANT_TABLES.items():
        metadata = METADATA[service]
        with roles[service].superuser.begin() as conn:
            for table in metadata.sorted_tables:  # referenced tables (orgs) first
                name, column = table.name, tables[table.name]
                # One row per org where the org column is the whole key (orgs, org_settings).
                per_a = 1 if [c.name for c in table.primary_key.columns] == [column] else 2
                counts[name] = per_a
                for org_id, how_many in ((org_a, per_a), (org_b, 1)):
                    for _ in range(how_many):
                        row = fake_row(table, column, org_id)
                        if name == "users":
                            row["email"] = f"{uuid.uuid4().hex[:12]}@rls.test"
                            emails.setdefault(org_id, row["email"])
                        conn.execute(insert(table).values(**row))
    return {"a": org_a, "b": org_b, "counts": counts, "emails": emails}


def test_every_table_is_classified_and_every_tenant_table_is_sealed(roles: dict[str, Roles]) -> None:
    for service, metadata in METADATA.items():
        assert set(metadata.tables) == set(TENANT_TABLES[service]), f"classify the new {service} tables"
        with roles[service].superuser.connect() as conn:
            flags = dict(
                conn.execute(
                    text(
                        "SELECT relname, relrowsecurity AND relforcerowsecurity FROM pg_class "
                        "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace AND relname <> 'alembic_version'"
                    )
                ).all()
            )
        assert flags == dict.fromkeys(TENANT_TABLES[service], True), service


@pytest.mark.parametrize(("service", "table"), TABLES)
def test_an_unscoped_select_sees_only_the_scoped_orgs_rows_and_nothing_without_a_scope(
    roles: dict[str, Roles], seeded: dict[str, Any], service: str, table: str
) -> None:
    column = TENANT_TABLES[service][table]
    with roles[service].app.begin() as conn:
        orgs_seen = scoped(conn, seeded["a"]).execute(text(f"SELECT {column} FROM {table}")).scalars().all()
    assert orgs_seen == [seeded["a"]] * seeded["counts"][table]
    with roles[service].app.begin() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
    with roles[service].app.begin() as conn:
        # A setting left empty (what a pooled connection holds after an earlier transaction) is no scope.
        assert scoped(conn, "").execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0


@pytest.mark.parametrize(("service", "table"), TABLES)
def test_a_row_for_another_org_cannot_be_inserted(
    roles: dict[str, Roles], seeded: dict[str, Any], service: str, table: str
) -> None:
    column = TENANT_TABLES[service][table]
    row = fake_row(METADATA[service].tables[table], column, seeded["b"])
    expected = RLS_REFUSED if "INSERT" in PRIVILEGES[table] else NO_PRIVILEGE
    with pytest.raises(DBAPIError, match=expected), roles[service].app.begin() as conn:
        scoped(conn, seeded["a"]).execute(insert(METADATA[service].tables[table]).values(**row))


@pytest.mark.parametrize(("service", "table"), TABLES)
def test_the_app_role_holds_exactly_the_privileges_its_service_needs(
    roles: dict[str, Roles], service: str, table: str
) -> None:
    with roles[service].superuser.connect() as conn:
        held = {
            privilege
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
            if conn.execute(
                text("SELECT has_table_privilege(:role, :table, :privilege)"),
                {"role": roles[service].app_role, "table": table, "privilege": privilege},
            ).scalar_one()
        }
    assert held == PRIVILEGES[table]


@pytest.mark.parametrize(
    ("service", "table"),
    [
        ("kernel", "events"),
        ("bff", "audit_records"),
        ("kernel", "event_checkpoints"),
        ("bff", "audit_checkpoints"),
        ("kernel", "ledger_entries"),
        ("kernel", "commitments"),
        ("kernel", "fund_valuations"),
        ("kernel", "money_operations"),
        ("kernel", "material_revisions"),
        ("kernel", "checklist_item_revisions"),
        ("kernel", "artifacts"),
    ],
)
@pytest.mark.parametrize("statement", ["UPDATE {table} SET org_id = org_id", "DELETE FROM {table}"])
def test_the_app_role_cannot_update_or_delete_append_only_tables(
    roles: dict[str, Roles], seeded: dict[str, Any], service: str, table: str, statement: str
) -> None:
    with pytest.raises(DBAPIError, match=NO_PRIVILEGE), roles[service].app.begin() as conn:
        scoped(conn, seeded["a"]).execute(text(statement.format(table=table)))


def test_updates_reach_only_the_scoped_org_and_cannot_move_a_row_to_another(
    roles: dict[str, Roles], seeded: dict[str, Any]
) -> None:
    for service, table in (("kernel", "deals"), ("bff", "users")):
        with roles[service].app.begin() as conn:
            touched = scoped(conn, seeded["a"]).execute(
                text(f"UPDATE {table} SET updated_at = updated_at WHERE org_id = :b"), {"b": seeded["b"]}
            )
            assert touched.rowcount == 0
            conn.rollback()
        with pytest.raises(DBAPIError, match=RLS_REFUSED), roles[service].app.begin() as conn:
            scoped(conn, seeded["a"]).execute(text(f"UPDATE {table} SET org_id = :b"), {"b": seeded["b"]})


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON {table}",
        "ALTER POLICY tenant_isolation ON {table} USING (true)",
        "CREATE POLICY open_door ON {table} USING (true)",
        "DROP TABLE {table}",
        "TRUNCATE {table}",
    ],
)
@pytest.mark.parametrize(("service", "table"), [("kernel", "deals"), ("kernel", "events"), ("bff", "audit_records")])
def test_the_app_role_cannot_touch_the_policies_or_the_tables(
    roles: dict[str, Roles], service: str, table: str, statement: str
) -> None:
    with pytest.raises(DBAPIError, match=r"must be owner|permission denied"), roles[service].app.begin() as conn:
        conn.execute(text(statement.format(table=table)))


def test_the_app_role_cannot_switch_row_security_off_or_become_the_owner(
    roles: dict[str, Roles], databases: Databases
) -> None:
    app = roles["kernel"].app
    with pytest.raises(DBAPIError, match=RLS_REFUSED):
        in_one_transaction(app, "SET LOCAL row_security = off", "SELECT count(*) FROM deals")
    owner = str(make_url(databases.kernel_owner_url).username)
    with pytest.raises(DBAPIError, match="permission denied"), app.begin() as conn:
        conn.execute(text(f'SET ROLE "{owner}"'))


def test_the_bff_role_has_no_access_to_kernel_tables(databases: Databases) -> None:
    """Invariant 1 underneath the code: the BFF's database role cannot read or write kernel tables."""
    bff_app = make_url(databases.bff_app_url)
    as_bff = make_url(databases.kernel_url).set(username=bff_app.username, password=bff_app.password)
    engine = engine_for(as_bff.render_as_string(hide_password=False))
    try:
        for statement in ("SELECT count(*) FROM deals", "SELECT count(*) FROM events"):
            with pytest.raises(DBAPIError, match=NO_PRIVILEGE), engine.begin() as conn:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def test_sign_in_lookup_shows_one_user_by_exact_email_and_nothing_else(
    roles: dict[str, Roles], seeded: dict[str, Any]
) -> None:
    email = seeded["emails"][seeded["b"]]
    with roles["bff"].app.begin() as conn:
        scoped(conn, sign_in_email=email)
        assert conn.execute(text("SELECT org_id, email FROM users")).all() == [(seeded["b"], email)]
        for other in ("orgs", "audit_records", "revoked_tokens"):
            assert conn.execute(text(f"SELECT count(*) FROM {other}")).scalar_one() == 0
        # Read-only: the sign-in scope lets nothing be changed.
        assert conn.execute(text("UPDATE users SET active = false WHERE email = :e"), {"e": email}).rowcount == 0
    with roles["bff"].app.begin() as conn:
        scoped(conn, sign_in_email="%")
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0


def test_reading_across_orgs_is_for_the_owner_only_and_read_only(
    roles: dict[str, Roles], seeded: dict[str, Any]
) -> None:
    both = {seeded["a"], seeded["b"]}
    kernel = roles["kernel"]
    with kernel.app.begin() as conn:
        assert scoped(conn, all_orgs="on").execute(text("SELECT count(*) FROM deals")).scalar_one() == 0
    with kernel.owner.begin() as conn:
        # FORCE: without a scope even the owner sees nothing ...
        assert conn.execute(text("SELECT count(*) FROM deals")).scalar_one() == 0
    with kernel.owner.begin() as conn:
        # ... and with app.all_orgs it may read every org ...
        seen = set(scoped(conn, all_orgs="on").execute(text("SELECT DISTINCT org_id FROM deals")).scalars())
        assert both <= seen
        # ... but not write to any of them.
        assert conn.execute(text("UPDATE deals SET name = name")).rowcount == 0
    row = fake_row(METADATA["kernel"].tables["deals"], "org_id", seeded["b"])
    with pytest.raises(DBAPIError, match=RLS_REFUSED), kernel.owner.begin() as conn:
        scoped(conn, all_orgs="on").execute(insert(METADATA["kernel"].tables["deals"]).values(**row))


async def write_a_deal_for(org_id: str, database: Database, *, scoped_to: str) -> None:
    async with database.session(write=True, org_id=scoped_to) as session:
        session.add(DealRow(**fake_row(DealRow.__table__, "org_id", org_id)))
        await session.flush()


async def read_across_orgs(database: Database) -> None:
    async with database.session(all_orgs=True):
        pass


def test_the_session_api_scopes_unscoped_orm_queries_and_guards_cross_org_reads(
    databases: Databases, seeded: dict[str, Any]
) -> None:
    async def scenario() -> None:
        app = Database(databases.kernel_app_url)
        owner = Database(databases.kernel_owner_url)
        bff = Database(databases.bff_app_url)
        try:
            async with app.session(org_id=seeded["a"]) as session:
                orgs = set((await session.execute(select(DealRow.org_id))).scalars())
            assert orgs == {seeded["a"]}
            async with app.session() as session:
                assert (await session.execute(select(DealRow.id))).first() is None
            with pytest.raises(DBAPIError, match=RLS_REFUSED):
                await write_a_deal_for(seeded["b"], app, scoped_to=seeded["a"])
            with pytest.raises(CrossOrgReadRefused):
                await read_across_orgs(app)
            async with owner.session(all_orgs=True) as session:
                seen = set((await session.execute(select(DealRow.org_id).distinct())).scalars())
            assert {seeded["a"], seeded["b"]} <= seen
            email = seeded["emails"][seeded["a"]]
            async with bff.session(sign_in_email=email) as session:
                users = (await session.execute(select(UserRow.email))).scalars().all()
            assert users == [email]
            with pytest.raises(ValueError, match="at most one scope"):
                async with app.session(org_id=seeded["a"], all_orgs=True):
                    pass
        finally:
            for database in (app, owner, bff):
                await database.dispose()

    asyncio.run(scenario())


def test_the_running_services_connect_as_their_app_roles(stack: Stack, databases: Databases) -> None:
    """The rest of the suite runs the API against these roles; make sure that is really so."""
    org = new_org(stack)
    with org.client() as admin:
        create_deal(admin)
        assert admin.get("/api/users").status_code == 200
    expected = {
        make_url(databases.kernel_url).database: make_url(databases.kernel_app_url).username,
        make_url(databases.bff_url).database: make_url(databases.bff_app_url).username,
    }
    engine = engine_for(databases.bff_url)
    try:
        with engine.connect() as conn:
            for database, role in expected.items():
                users = set(
                    conn.execute(
                        text("SELECT usename FROM pg_stat_activity WHERE datname = :db AND usename IS NOT NULL"),
                        {"db": database},
                    ).scalars()
                )
                assert role in users, (database, users)
    finally:
        engine.dispose()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cornerstone", *args],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("CORNERSTONE_")}, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_operator_commands_read_every_org_as_the_owner_and_are_refused_as_the_app_role(
    databases: Databases, seeded: dict[str, Any]
) -> None:
    env = databases.env()
    as_owner = run_cli(env, "kernel", "verify")
    # The seeded rows carry made-up hashes: what matters is that verify saw both orgs.
    assert f"org {seeded['a']}" in as_owner.stdout
    assert f"org {seeded['b']}" in as_owner.stdout
    app_only = {k: v for k, v in env.items() if "MIGRATION" not in k}
    refused = run_cli(app_only, "kernel", "verify")
    assert refused.returncode == 1
    assert "CrossOrgReadRefused" in refused.stderr
    # One org's chain needs no cross-org read: the app role may verify it.
    one_org = run_cli(app_only, "kernel", "verify", "--org", seeded["a"])
    assert f"org {seeded['a']}" in one_org.stdout
    assert seeded["b"] not in one_org.stdout


def test_a_role_that_skips_row_security_is_named_and_the_services_warn_about_it(
    databases: Databases, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bypass_role = f"cs_test_bypass_{uuid.uuid4().hex[:8]}"
    superuser = engine_for(databases.bff_url)
    try:
        with superuser.begin() as conn:
            conn.execute(text(f"CREATE ROLE \"{bypass_role}\" LOGIN BYPASSRLS PASSWORD 'bypass-{bypass_role}'"))
        bypass_url = (
            make_url(databases.bff_app_url)
            .set(username=bypass_role, password=f"bypass-{bypass_role}")
            .render_as_string(hide_password=False)
        )

        async def reasons() -> list[str | None]:
            found = []
            for url in (databases.bff_app_url, databases.bff_owner_url, databases.bff_url, bypass_url):
                database = Database(url)
                try:
                    found.append(await database.row_security_bypass())
                finally:
                    await database.dispose()
            return found

        assert asyncio.run(reasons()) == [None, None, "superuser", "BYPASSRLS"]

        # The suite's own services connect as app roles: no warning there.
        for server in (stack.kernel, stack.bff):
            assert "database_role_bypasses_row_level_security" not in server.log_text()
        # A kernel pointed at the superuser says so when it starts.
        env = {**stack.env, "CORNERSTONE_KERNEL_DATABASE_URL": databases.kernel_url}
        port = free_port()
        kernel = start_server("kernel-superuser", ["kernel"], env, port, tmp_path_factory.mktemp("bypass"))
        try:
            log = wait_until(
                lambda: "database_role_bypasses_row_level_security" in kernel.log_text() and kernel.log_text(),
                timeout=30,
                what="the kernel's row-security warning",
            )
        finally:
            kernel.stop()
        assert '"reason": "superuser"' in log
    finally:
        with superuser.begin() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{bypass_role}"'))
        superuser.dispose()

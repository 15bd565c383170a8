"""DDL both services' migrations share."""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from cornerstone.kit.db import ALL_ORGS_SETTING, APP_ROLE_OPTION, ORG_SETTING


def append_only(table: str) -> None:
    """Refuse UPDATE and DELETE on ``table`` in the database itself, on SQLite and PostgreSQL."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
        return
    op.execute(
        f"""
        CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{table} is append-only';
        END $$
        """
    )
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
    )


def drop_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        return
    op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")


# What the runtime role of a service may do to a table. Append-only tables get no UPDATE or
# DELETE at all: the trigger refuses them too, but a privilege the role never had cannot be misused.
READ_WRITE: tuple[str, ...] = ("SELECT", "INSERT", "UPDATE", "DELETE")
APPEND_ONLY: tuple[str, ...] = ("SELECT", "INSERT")


def _app_role() -> str:
    role = op.get_context().opts.get(APP_ROLE_OPTION)
    if not role:
        raise RuntimeError(f"migrations/env.py must pass {APP_ROLE_OPTION} (run_alembic_env(..., app_role=...))")
    return str(role)


def _quote(name: str) -> str:
    return str(op.get_bind().dialect.identifier_preparer.quote(name))


def ensure_app_role(role: str) -> None:
    """Create the service's group role (NOLOGIN) unless it exists; deployments put their login role in it.

    Needs CREATEROLE only the first time, on a cluster where nobody created it beforehand.
    """
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {_quote(role)} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created concurrently by another migration run on the same cluster
        END $$
        """
    )


def tenant_table(table: str, column: str = "org_id", *, grant: Sequence[str] = READ_WRITE) -> None:
    """Seal ``table`` per tenant on PostgreSQL: row-level security on ``column``, forced on the owner too.

    - ``tenant_isolation``: a row is visible, updatable and insertable only when ``column``
      equals the transaction's ``app.org_id`` (``Database.session(org_id=...)``); with no
      setting, nothing is visible and nothing can be written.
    - ``operator_read``: the table's owner (the migration role: operator commands such as
      ``kernel verify``) may read across orgs, but only after ``set_config('app.all_orgs', 'on')``
      (``Database.session(all_orgs=True)``), and never write across them.
    - the service's app role (``run_alembic_env(app_role=...)``) gets ``grant`` and nothing else;
      it owns nothing, so it can neither alter nor drop the policies nor turn row security off.

    SQLite has no row-level security: a no-op there.
    """
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    role = _app_role()
    ensure_app_role(role)
    owner = bind.execute(
        text("SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() AND tablename = :table"),
        {"table": table},
    ).scalar_one()
    own_org = f"{column} = current_setting('{ORG_SETTING}', true)"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({own_org}) WITH CHECK ({own_org})")
    op.execute(
        f"CREATE POLICY operator_read ON {table} FOR SELECT TO {_quote(owner)} "
        f"USING (current_setting('{ALL_ORGS_SETTING}', true) = 'on')"
    )
    op.execute(f"GRANT {', '.join(grant)} ON {table} TO {_quote(role)}")


def drop_tenant_table(table: str) -> None:
    """Undo ``tenant_table``: the grants, the policies and row-level security (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"REVOKE ALL ON {table} FROM {_quote(_app_role())}")
    op.execute(f"DROP POLICY IF EXISTS operator_read ON {table}")
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")

"""row-level security on the BFF's tenant tables

Revision ID: b0004
Revises: b0003
Create Date: 2026-11-28 20:30:00.000000

PostgreSQL only (SQLite has no row-level security; ``tenant_table`` is a no-op there).

- ``orgs`` is scoped by its own ``id``; the app only reads it (orgs are created by an operator).
- ``users``: read, create and update (users are deactivated, never deleted). Sign-in looks a
  user up by email before any org is known: the ``sign_in_lookup`` policy shows the one row
  whose email equals the transaction's ``app.sign_in_email``, for SELECT only, and only the
  sign-in code path sets it (``Database.session(sign_in_email=...)``).
- ``audit_records``: read and append only. Records of anonymous requests go to the "-" chain,
  written in a session scoped to org "-".
- ``revoked_tokens``: read, add, and delete (pruning expired entries), within the caller's org.
"""

from collections.abc import Sequence

from alembic import op

from cornerstone.kit.db import SIGN_IN_EMAIL_SETTING
from cornerstone.kit.migration_helpers import APPEND_ONLY, drop_tenant_table, tenant_table

revision: str = "b0004"
down_revision: str | None = "b0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tenant_table("orgs", column="id", grant=("SELECT",))
    tenant_table("users", grant=("SELECT", "INSERT", "UPDATE"))
    tenant_table("audit_records", grant=APPEND_ONLY)
    tenant_table("revoked_tokens", grant=("SELECT", "INSERT", "DELETE"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE POLICY sign_in_lookup ON users FOR SELECT "
            f"USING (email = current_setting('{SIGN_IN_EMAIL_SETTING}', true))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS sign_in_lookup ON users")
    drop_tenant_table("revoked_tokens")
    drop_tenant_table("audit_records")
    drop_tenant_table("users")
    drop_tenant_table("orgs")

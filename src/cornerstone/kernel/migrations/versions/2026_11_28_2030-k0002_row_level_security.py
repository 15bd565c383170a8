"""row-level security on the kernel's tenant tables

Revision ID: k0002
Revises: k0001
Create Date: 2026-11-28 20:30:00.000000

PostgreSQL only (SQLite has no row-level security; ``tenant_table`` is a no-op there).
The kernel's app role may read, create and update deals (never delete them) and may only
read and append events.
"""

from collections.abc import Sequence

from cornerstone.kit.migration_helpers import APPEND_ONLY, drop_tenant_table, tenant_table

revision: str = "k0002"
down_revision: str | None = "k0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tenant_table("deals", grant=("SELECT", "INSERT", "UPDATE"))
    tenant_table("events", grant=APPEND_ONLY)


def downgrade() -> None:
    drop_tenant_table("events")
    drop_tenant_table("deals")

"""artifacts: uploaded files of deals, stored by SHA-256 per org

The bytes live under the data dir (``kernel.artifacts.storage``); this table holds what was
uploaded, by whom, and the hash every read re-checks. Append-only (a trigger refuses UPDATE and
DELETE, and the app role is granted neither) and a tenant table under row-level security.

Revision ID: k0004
Revises: k0003
Create Date: 2026-11-28 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cornerstone.kit.migration_helpers import (
    APPEND_ONLY,
    append_only,
    drop_append_only,
    drop_tenant_table,
    tenant_table,
)

revision: str = "k0004"
down_revision: str | None = "k0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("deal_id", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime_type", sa.String(length=127), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
    )
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_artifacts_org_id_deal_id_created_at_id", ["org_id", "deal_id", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_artifacts_org_id_sha256", ["org_id", "sha256"], unique=False)
    append_only("artifacts")
    tenant_table("artifacts", grant=APPEND_ONLY)


def downgrade() -> None:
    drop_tenant_table("artifacts")
    drop_append_only("artifacts")
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_index("ix_artifacts_org_id_sha256")
        batch_op.drop_index("ix_artifacts_org_id_deal_id_created_at_id")
    op.drop_table("artifacts")

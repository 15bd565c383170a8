"""the expired-rows sweep policy

Revision ID: b0006
Revises: b0005
Create Date: 2026-11-28 23:00:00.000000

PostgreSQL only. Revoked tokens and idempotency records expire; the sweeper deletes them in
every org at once, as the app role, without seeing anything that has not expired: the
``expired_sweep`` policies show (SELECT) and let delete (DELETE) only rows past ``expires_at``,
and only in a transaction that set ``app.sweep_expired`` (``Database.session(sweep_expired=True)``).
"""

from collections.abc import Sequence

from alembic import op

from cornerstone.kit.db import SWEEP_EXPIRED_SETTING

revision: str = "b0006"
down_revision: str | None = "b0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXPIRING_TABLES = ("revoked_tokens", "idempotency_records")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    expired = f"current_setting('{SWEEP_EXPIRED_SETTING}', true) = 'on' AND expires_at <= now()"
    for table in EXPIRING_TABLES:
        op.execute(f"CREATE POLICY expired_sweep_read ON {table} FOR SELECT USING ({expired})")
        op.execute(f"CREATE POLICY expired_sweep_delete ON {table} FOR DELETE USING ({expired})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in EXPIRING_TABLES:
        op.execute(f"DROP POLICY IF EXISTS expired_sweep_delete ON {table}")
        op.execute(f"DROP POLICY IF EXISTS expired_sweep_read ON {table}")

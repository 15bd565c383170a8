from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.bff.models.base import Base


class AuditCheckpointRow(Base):
    """A signed statement that an org's audit trail had ``seq`` records, the last hashing to ``hash``.

    Written with every audit record, in the same transaction, and kept apart from the records: deleting the
    newest records leaves a checkpoint past the end of the trail, which ``cornerstone audit verify`` names.
    ``mac`` is HMAC-SHA256 with a key only the services hold (``kit.hashchain.checkpoint_mac``). Append-only.
    """

    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("org_id", "seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    mac: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

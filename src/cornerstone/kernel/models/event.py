from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class EventRow(Base):
    """One entry of an org's append-only, hash-chained kernel event log.

    ``payload`` is stored as the exact canonical JSON text that was hashed, so the hash
    can be recomputed from the row alone. ``(org_id, seq)`` is unique: two writers can
    never both claim the same position in a chain.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("org_id", "seq"),
        Index("ix_events_org_id_subject_id_seq", "org_id", "subject_id", "seq"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    subject_type: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(32), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    actor_id: Mapped[str] = mapped_column(String(64), nullable=False)
    actor_role: Mapped[str] = mapped_column(String(32), nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(128))
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

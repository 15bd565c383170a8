from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.bff.models.base import Base


class IdempotencyRecordRow(Base):
    """One ``Idempotency-Key`` of one org: claimed (``in_flight``) before a money POST runs, then
    ``completed`` with the exact status and body bytes to replay, until ``expires_at``.

    The unique ``(org_id, key)`` is what decides a race between two requests with the same key:
    the insert that loses is told so by the database, never by a read made beforehand.
    ``status_code``, ``response_body`` and ``content_type`` are set only when ``completed``.
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (
        UniqueConstraint("org_id", "key"),
        Index("ix_idempotency_records_expires_at", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_type: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

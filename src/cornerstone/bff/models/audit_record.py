from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.bff.models.base import Base


class AuditRecordRow(Base):
    """One audited request: who, what, on what, with what outcome. Append-only, hash-chained per org.

    ``org_id`` is ``NO_ORG`` ("-") when the caller could not be tied to an org (an unknown
    email at sign-in, a request with no valid token). ``changes`` holds the masked
    before/after as the exact canonical JSON text that was hashed.
    """

    __tablename__ = "audit_records"
    __table_args__ = (
        UniqueConstraint("org_id", "seq"),
        Index("ix_audit_records_org_id_created_at", "org_id", "created_at"),
        Index("ix_audit_records_org_id_request_id", "org_id", "request_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(32))
    actor_role: Mapped[str] = mapped_column(String(16), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    error_code: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(128), nullable=False)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    changes: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)

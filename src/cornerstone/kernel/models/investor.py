from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class InvestorRow(Base):
    """An LP entity. Tax id and bank numbers are stored only as AES-GCM tokens (kit.field_crypto),
    bound to the org, the investor and the field, so a token copied elsewhere does not decrypt."""

    __tablename__ = "investors"
    __table_args__ = (Index("ix_investors_org_id_created_at_id", "org_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    tax_id_encrypted: Mapped[str | None] = mapped_column(Text)
    bank_account_encrypted: Mapped[str | None] = mapped_column(Text)
    bank_routing_encrypted: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

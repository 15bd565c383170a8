from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class DealPartyRow(Base):
    """An external user's role on one deal (counsel, lender, escrow, property manager): the deals an
    ``external`` user may see at all, and the deal roles a gate's approvals can name."""

    __tablename__ = "deal_parties"
    __table_args__ = (UniqueConstraint("org_id", "deal_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    deal_id: Mapped[str] = mapped_column(String(32), nullable=False)
    user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    deal_role: Mapped[str] = mapped_column(String(32), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

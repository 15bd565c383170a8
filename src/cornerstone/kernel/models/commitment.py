from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class CommitmentRow(Base):
    """One commitment entry of an investor to a fund (append-only; an increase is a new entry)."""

    __tablename__ = "commitments"
    __table_args__ = (Index("ix_commitments_org_id_fund_id_investor_id", "org_id", "fund_id", "investor_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    fund_id: Mapped[str] = mapped_column(String(32), nullable=False)
    investor_id: Mapped[str] = mapped_column(String(32), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

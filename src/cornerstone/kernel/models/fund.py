from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class FundRow(Base):
    """A fund (or single-deal vehicle) and its waterfall terms; rates as decimal strings."""

    __tablename__ = "funds"
    __table_args__ = (Index("ix_funds_org_id_created_at_id", "org_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    vintage: Mapped[int | None] = mapped_column(Integer)
    pref_rate: Mapped[str] = mapped_column(String(40), nullable=False)
    pref_compounding: Mapped[str] = mapped_column(String(16), nullable=False)
    catch_up_rate: Mapped[str] = mapped_column(String(40), nullable=False)
    carry_rate: Mapped[str] = mapped_column(String(40), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class DistributionRow(Base):
    """A distribution with its tier amounts; per-investor shares are ``distribution_allocations``."""

    __tablename__ = "distributions"
    __table_args__ = (Index("ix_distributions_org_id_created_at_id", "org_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    fund_id: Mapped[str] = mapped_column(String(32), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    date: Mapped[date] = mapped_column(Date, nullable=False)
    method: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    carried_interest: Mapped[int] = mapped_column(BigInteger, nullable=False)
    return_of_capital: Mapped[int] = mapped_column(BigInteger, nullable=False)
    preferred_return: Mapped[int] = mapped_column(BigInteger, nullable=False)
    catch_up: Mapped[int] = mapped_column(BigInteger, nullable=False)
    split_lp: Mapped[int] = mapped_column(BigInteger, nullable=False)
    split_gp: Mapped[int] = mapped_column(BigInteger, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

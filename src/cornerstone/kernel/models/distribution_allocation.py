from __future__ import annotations

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class DistributionAllocationRow(Base):
    """An investor's share of a distribution (fixed when the distribution is created)."""

    __tablename__ = "distribution_allocations"
    __table_args__ = (Index("ix_distribution_allocations_org_id_investor_id", "org_id", "investor_id"),)

    distribution_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    investor_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)

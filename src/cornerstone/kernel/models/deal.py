from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class DealRow(Base):
    """A deal. Money in minor units of ``currency``; rates as decimal strings (never floats)."""

    __tablename__ = "deals"
    __table_args__ = (Index("ix_deals_org_id_created_at_id", "org_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    asset_class: Mapped[str] = mapped_column(String(32), nullable=False)
    street: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    square_feet: Mapped[int | None] = mapped_column(BigInteger)
    units: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    purchase_price: Mapped[int | None] = mapped_column(BigInteger)
    noi: Mapped[int | None] = mapped_column(BigInteger)
    loan_amount: Mapped[int | None] = mapped_column(BigInteger)
    equity_required: Mapped[int | None] = mapped_column(BigInteger)
    projected_irr: Mapped[str | None] = mapped_column(String(40))
    projected_multiple: Mapped[str | None] = mapped_column(String(40))
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    held_from: Mapped[str | None] = mapped_column(String(32))
    # Incremented by every transition: approvals and overrides belong to one visit of one stage.
    stage_visit: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class ApprovalRow(Base):
    """An approval or denial of one edge, given during one visit of the deal to a stage
    (``stage_visit``): it counts only while the deal is still in that visit and it is not withdrawn."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_org_id_deal_id_stage_visit", "org_id", "deal_id", "stage_visit"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    deal_id: Mapped[str] = mapped_column(String(32), nullable=False)
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    stage_visit: Mapped[int] = mapped_column(Integer, nullable=False)
    target: Mapped[str] = mapped_column(String(32), nullable=False)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    approver_id: Mapped[str] = mapped_column(String(64), nullable=False)
    approver_role: Mapped[str] = mapped_column(String(32), nullable=False)
    deal_role: Mapped[str | None] = mapped_column(String(32))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

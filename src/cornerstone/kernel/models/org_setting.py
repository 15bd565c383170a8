from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class OrgSettingRow(Base):
    """An org's own thresholds for the gates (only ever stricter than the defaults)."""

    __tablename__ = "org_settings"

    org_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ic_quorum: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

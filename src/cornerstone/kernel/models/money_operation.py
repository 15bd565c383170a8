from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class MoneyOperationRow(Base):
    """The first outcome of a money write, keyed by the caller's idempotency key within the org.

    Written in the same transaction as the money it moved: a retry with the same key (after a
    lost response or a BFF restart) gets this answer back and moves nothing a second time.
    """

    __tablename__ = "money_operations"

    org_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    response: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class MoneyOperationRow(Base):
    """A money write done under the caller's idempotency key within the org, and the object it made
    or changed. Written in the same transaction as the money it moved: a retry with the same key
    (after a lost response or a BFF restart) is answered with that object and moves nothing again.
    Only the reference is kept, never the answer itself: a payment's answer is the whole call,
    which for a large fund is hundreds of kilobytes, and this table is append-only.
    """

    __tablename__ = "money_operations"

    org_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    resource_type: Mapped[str] = mapped_column(String(32), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class EventCheckpointRow(Base):
    """A signed statement that an org's event log had ``seq`` events, the last hashing to ``hash``.

    Written with every event, in the same transaction, and kept apart from the events it covers: deleting
    the newest events leaves a checkpoint past the end of the log, which ``cornerstone kernel verify`` names.
    ``mac`` is HMAC-SHA256 with a key only the services hold (``kit.hashchain.checkpoint_mac``). Append-only.
    """

    __tablename__ = "event_checkpoints"
    __table_args__ = (UniqueConstraint("org_id", "seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    mac: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class ArtifactRow(Base):
    """An uploaded file of a deal. Append-only: the bytes live under the data dir by SHA-256 per org
    (``kernel.artifacts.storage``); the same bytes uploaded twice are one file and two rows."""

    __tablename__ = "artifacts"
    __table_args__ = (
        Index("ix_artifacts_org_id_deal_id_created_at_id", "org_id", "deal_id", "created_at", "id"),
        Index("ix_artifacts_org_id_sha256", "org_id", "sha256"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    deal_id: Mapped[str] = mapped_column(String(32), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    mime_type: Mapped[str] = mapped_column(String(127), nullable=False)
    uploaded_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

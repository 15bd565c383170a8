from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cornerstone.kernel.models.base import Base


class MaterialRevisionRow(Base):
    """One revision of a deal's material (one material per deal and type). Append-only: a change,
    a verification included, is a new revision, so "the materials at time T" is a query."""

    __tablename__ = "material_revisions"
    __table_args__ = (
        UniqueConstraint("org_id", "material_id", "revision"),
        Index("ix_material_revisions_org_id_deal_id_type", "org_id", "deal_id", "type"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    material_id: Mapped[str] = mapped_column(String(32), nullable=False)
    deal_id: Mapped[str] = mapped_column(String(32), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[str] = mapped_column(Text, nullable=False)
    truth_class: Mapped[str] = mapped_column(String(8), nullable=False)
    artifact_id: Mapped[str | None] = mapped_column(String(32))
    artifact_sha256: Mapped[str | None] = mapped_column(String(64))
    attested_by: Mapped[str | None] = mapped_column(String(64))
    verified_by: Mapped[str | None] = mapped_column(String(64))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

"""Deal artifacts on the wire: uploaded files, stored by content hash per org."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

# What the kernel accepts, by type sniffed from the bytes (never from the name or the client).
ALLOWED_MIME_TYPES = (
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/tiff",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "text/csv",
    "text/plain",
)

ARTIFACT_MAX_BYTES_DEFAULT = 25 * 1024 * 1024
FILENAME_MAX_CHARS = 255


class Artifact(BaseModel):
    """An uploaded file's record. ``sha256`` is the hex digest of its bytes, re-checked on every read."""

    id: str
    deal_id: str
    sha256: str
    filename: str
    size: int
    mime_type: str
    uploaded_by: str
    created_at: datetime


class ArtifactPage(BaseModel):
    items: list[Artifact]
    next_cursor: str | None

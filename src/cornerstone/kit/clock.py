"""Time in UTC, truncated to microseconds, so stored and in-memory values agree."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Stored datetimes come back naive from SQLite and aware from PostgreSQL; make both aware UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def isoformat_utc(value: datetime) -> str:
    """RFC 3339 with microseconds and a Z suffix."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

"""Kernel events on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class Event(BaseModel):
    id: str
    seq: int
    type: str
    subject_type: str
    subject_id: str
    payload: dict[str, Any]
    actor_id: str
    actor_role: str
    request_id: str | None
    prev_hash: str
    hash: str
    created_at: datetime


class EventPage(BaseModel):
    items: list[Event]
    next_after: int | None

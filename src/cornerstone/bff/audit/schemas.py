from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditRecord(BaseModel):
    id: str
    seq: int
    created_at: datetime
    org_id: str
    actor_id: str | None
    actor_role: str
    action: str
    target_type: str | None
    target_id: str | None
    status: int
    error_code: str | None
    request_id: str
    client_ip: str | None
    user_agent: str | None
    changes: Any
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditRecord]
    next_cursor: str | None


class AuditVerification(BaseModel):
    ok: bool
    checked: int
    first_bad: str | None
    reason: str | None = None

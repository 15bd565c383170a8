"""Reading and verifying the audit trail (admin, auditor)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from cornerstone.bff.audit import service
from cornerstone.bff.audit.schemas import AuditPage, AuditRecord, AuditVerification
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.models import AuditRecordRow
from cornerstone.bff.sessions import ReadSession
from cornerstone.contracts.types import SINGLE_LINE

router = APIRouter(prefix="/api/audit", tags=["audit"])

Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
CSV_COLUMNS = tuple(AuditRecord.model_fields)
# ``seq`` is a 32-bit column: a larger cursor is past every record (PostgreSQL would refuse to compare it, a 500).
MAX_SEQ = 2**31 - 1


def _to_schema(row: AuditRecordRow) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        seq=row.seq,
        created_at=service.created_at_of(row),
        org_id=row.org_id,
        actor_id=row.actor_id,
        actor_role=row.actor_role,
        action=row.action,
        target_type=row.target_type,
        target_id=row.target_id,
        status=row.status,
        error_code=row.error_code,
        request_id=row.request_id,
        client_ip=row.client_ip,
        user_agent=row.user_agent,
        changes=service.changes_of(row),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


@router.get("", response_model=AuditPage, responses={200: {"content": {"text/csv": {}}}})
async def list_audit_records(
    request: Request,
    user: Auditor,
    session: ReadSession,
    actor: Annotated[str | None, Query(max_length=64), SINGLE_LINE] = None,
    action: Annotated[str | None, Query(max_length=64), SINGLE_LINE] = None,
    target: Annotated[str | None, Query(max_length=64), SINGLE_LINE] = None,
    request_id: Annotated[str | None, Query(max_length=128), SINGLE_LINE] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,12}$"), SINGLE_LINE] = None,
) -> AuditPage | Response:
    """The org's audit records, newest first. ``Accept: text/csv`` exports the page as CSV."""
    filters = service.AuditFilters(
        actor=actor, action=action, target=target, request_id=request_id, since=since, until=until
    )
    rows, next_seq = await service.list_records(
        session, user.org_id, filters, limit=limit, before_seq=min(int(cursor), MAX_SEQ) if cursor else None
    )
    records = [_to_schema(row) for row in rows]
    next_cursor = str(next_seq) if next_seq is not None else None
    if "text/csv" in request.headers.get("accept", ""):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for record in records:
            cells = record.model_dump(mode="json") | {"changes": _changes_text(record)}
            writer.writerow({key: _inert(value) for key, value in cells.items()})
        headers = {"Content-Disposition": 'attachment; filename="audit.csv"'}
        if next_cursor:
            headers["X-Next-Cursor"] = next_cursor
        return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
    return AuditPage(items=records, next_cursor=next_cursor)


def _changes_text(record: AuditRecord) -> str:
    return "" if record.changes is None else json.dumps(record.changes, sort_keys=True)


def _inert(value: object) -> object:
    """A cell a spreadsheet will not run as a formula (user agents and names are caller-controlled)."""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return value


@router.get("/verify", response_model=AuditVerification)
async def verify_audit_trail(request: Request, user: Auditor, session: ReadSession) -> AuditVerification:
    """Recompute every hash of the org's audit chain from the stored fields, and hold it against its signed
    checkpoints (records deleted from the end are caught)."""
    report = await service.verify_audit_trail(session, user.org_id, service.checkpoint_key_of(request.app.state))
    return AuditVerification(ok=report.ok, checked=report.checked, first_bad=report.first_bad_id, reason=report.reason)

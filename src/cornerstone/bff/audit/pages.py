"""The audit trail (``/admin/audit``): the org's audit records from ``/api/audit`` (admin and
auditor; any other role gets the API's 403), filtered by a GET form, a page at a time, with a
CSV download of everything the filters match (``/admin/audit.csv``, up to a cap) and a check of
the hash chain (``/api/audit/verify``)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from cornerstone.bff.web.api import ApiProblem, PageApi
from cornerstone.bff.web.forms import form_problem
from cornerstone.bff.web.session import PageUser
from cornerstone.bff.web.templating import render

router = APIRouter(tags=["ui"], include_in_schema=False)

PAGE_SIZE = 50
# The most records one CSV download holds; narrow the filters for more.
CSV_CAP = 10_000
CSV_COLUMNS = (
    "created_at",
    "actor_id",
    "actor_email",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "status",
    "error_code",
    "request_id",
    "client_ip",
    "user_agent",
    "changes",
    "id",
    "seq",
    "hash",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Filters:
    """The filter form as typed (shown back in the form and kept in the links)."""

    actor: str = ""
    action: str = ""
    target: str = ""
    request_id: str = ""
    since: str = ""
    until: str = ""

    def query(self, **extra: str | None) -> str:
        values = {
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "request_id": self.request_id,
            "since": self.since,
            "until": self.until,
            **extra,
        }
        return urlencode({key: value for key, value in values.items() if value})

    @property
    def any(self) -> bool:
        return any((self.actor, self.action, self.target, self.request_id, self.since, self.until))


def _instant(text: str, *, end_of_day: bool) -> datetime:
    """``2026-05-01`` (a whole day, UTC), ``2026-05-01 14:30`` (UTC) or an RFC 3339 instant."""
    value = text.strip()
    if len(value) == 10:
        day = date.fromisoformat(value)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start + timedelta(days=1) if end_of_day else start
    parsed = datetime.fromisoformat(value.replace(" ", "T", 1).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


async def _api_params(api: PageApi, filters: Filters) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The API's query for ``filters``, the message of each field it could not use, and the
    emails of the org's users by id (empty when the role may not list users)."""
    try:
        users = (await api.get("/api/users"))["items"]
    except ApiProblem as problem:
        if problem.status != 403:
            raise
        users = []
    emails = {user["id"]: user["email"] for user in users}
    errors: dict[str, str] = {}
    params: dict[str, str] = {}
    actor = filters.actor.strip()
    if actor:
        if "@" in actor:
            by_email = {email.lower(): user_id for user_id, email in emails.items()}
            if actor.lower() in by_email:
                params["actor"] = by_email[actor.lower()]
            elif not emails:
                errors["actor"] = "Enter the user's id: only an admin can look users up by email."
            else:
                errors["actor"] = "No user of this organization has this email."
        else:
            params["actor"] = actor
    for name in ("action", "target", "request_id"):
        value = getattr(filters, name).strip()
        if value:
            params[name] = value
    for name in ("since", "until"):
        value = getattr(filters, name).strip()
        if not value:
            continue
        try:
            instant = _instant(value, end_of_day=name == "until")
        except ValueError:
            errors[name] = "Enter a date such as 2026-05-01, or a date and time such as 2026-05-01 14:30 (UTC)."
        else:
            params[name] = instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return params, errors, emails


def _filters(*values: str | None) -> Filters:
    actor, action, target, request_id, since, until = values
    return Filters(
        actor=actor or "",
        action=action or "",
        target=target or "",
        request_id=request_id or "",
        since=since or "",
        until=until or "",
    )


Text64 = Annotated[str | None, Query(max_length=320)]
Text128 = Annotated[str | None, Query(max_length=128)]
Moment = Annotated[str | None, Query(max_length=40)]


@router.get("/admin/audit")
async def audit_page(
    request: Request,
    session: PageUser,
    actor: Text64 = None,
    action: Text64 = None,
    target: Text64 = None,
    request_id: Text128 = None,
    since: Moment = None,
    until: Moment = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,12}$")] = None,
    verify: Annotated[str | None, Query(max_length=4)] = None,
) -> Response:
    filters = _filters(actor, action, target, request_id, since, until)
    params, errors, emails = await _api_params(session.api, filters)
    problem = form_problem(errors, "Fix the filters marked below.", title="Filters not applied") if errors else None
    records: list[dict[str, Any]] = []
    next_cursor: str | None = None
    if problem is None:
        page = await session.api.get("/api/audit", {**params, "limit": PAGE_SIZE, "cursor": cursor})
        records, next_cursor = page["items"], page.get("next_cursor")
    verification = await session.api.get("/api/audit/verify") if verify else None
    return render(
        request,
        "admin/audit.html",
        {
            "filters": filters,
            "problem": problem,
            "records": records,
            "emails": emails,
            "paged": cursor is not None,
            "first_href": "/admin/audit" + (f"?{filters.query()}" if filters.any else ""),
            "next_href": f"/admin/audit?{filters.query(cursor=next_cursor)}" if next_cursor else None,
            "csv_href": "/admin/audit.csv" + (f"?{filters.query()}" if filters.any else ""),
            "verify_filters": filters,
            "verification": verification,
            "csv_cap": CSV_CAP,
        },
        user=session.user,
        status_code=422 if problem else 200,
        title="Audit trail",
    )


def _inert(value: Any) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (user agents, targets and
    request ids are caller-controlled)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


@router.get("/admin/audit.csv")
async def audit_csv(
    request: Request,
    session: PageUser,
    actor: Text64 = None,
    action: Text64 = None,
    target: Text64 = None,
    request_id: Text128 = None,
    since: Moment = None,
    until: Moment = None,
) -> Response:
    """Every record the filters match, newest first, up to ``CSV_CAP``; ``X-Audit-Truncated: true``
    when there were more."""
    filters = _filters(actor, action, target, request_id, since, until)
    params, errors, emails = await _api_params(session.api, filters)
    if errors:
        return await audit_page(request, session, actor, action, target, request_id, since, until)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    records, truncated = await session.api.get_capped("/api/audit", params, cap=CSV_CAP)
    for record in records:
        cells = {
            **record,
            "actor_email": emails.get(record.get("actor_id") or "", ""),
            "changes": "" if record.get("changes") is None else json.dumps(record["changes"], sort_keys=True),
        }
        writer.writerow([_inert(cells.get(column)) for column in CSV_COLUMNS])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {"Content-Disposition": f'attachment; filename="audit-trail-{stamp}.csv"'}
    if truncated:
        headers["X-Audit-Truncated"] = "true"
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)

"""Pure ASGI middleware that writes exactly one audit record per mutating request.

A web UI form (a page path) is a client of the API: when it went on to make its change through
the API, that request's record is the one record; a form refused before it reached the API
(a CSRF failure, an expired session) gets a record of its own, under the page route's action.

It runs inside the request-context layer (so the request id is known) and around the
routes, so it sees every outcome: allowed, or refused with 401, 403, 404, 409, 422, 429.
The response is held back until its record is committed, so a client never sees an
outcome that was not audited. What was done is read from the matched route
(``openapi_extra["x-audit-action"]`` and ``["x-audit-target"]``); who did it and what changed
from ``request.state`` (``principal``, and an optional ``audit`` dict set by the endpoint).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import structlog
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cornerstone.bff.audit.service import ANONYMOUS, NO_ORG, AuditEntry, append_record, checkpoint_key_of
from cornerstone.bff.web.api import DELEGATED_STATE_KEY
from cornerstone.kit.db import Database
from cornerstone.kit.metrics import AUDIT_RECORDS
from cornerstone.kit.request_context import current_request_id

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUDIT_ACTION_KEY = "x-audit-action"
AUDIT_TARGET_KEY = "x-audit-target"

log = structlog.get_logger("cornerstone.bff.audit")

# The `outcome` label of cornerstone_audit_records_total: the recorded status's class. Fixed, so
# every series exists (at 0) from the start.
ALLOWED, REFUSED, FAILED = "allowed", "refused", "failed"
for _outcome in (ALLOWED, REFUSED, FAILED):
    AUDIT_RECORDS.labels(_outcome)


def outcome_of(status: int) -> str:
    """``allowed`` below 400, ``refused`` for a 4xx, ``failed`` for a 5xx."""
    return ALLOWED if status < 400 else REFUSED if status < 500 else FAILED


def audited(action: str, target: str | None = None) -> dict[str, Any]:
    """``openapi_extra`` for a mutating route: its dotted audit action and target type."""
    extra: dict[str, Any] = {AUDIT_ACTION_KEY: action}
    if target is not None:
        extra[AUDIT_TARGET_KEY] = target
    return extra


def note_audit(request: Request, **fields: Any) -> None:
    """Tell the audit layer what it cannot see from the route: the org and actor of a sign-in,
    the target of a create, and the change (``changes={"before": ..., "after": ...}``)."""
    request.state.audit = {**getattr(request.state, "audit", {}), **fields}


def note_change(request: Request, before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> None:
    """Record the fields that differ between ``before`` and ``after`` (all of ``after`` for a create)."""
    if before is None:
        note_audit(request, changes={"before": None, "after": dict(after)})
        return
    changed = sorted(key for key in after if key not in ("version", "updated_at") and before.get(key) != after.get(key))
    note_audit(
        request,
        changes={
            "before": {key: before.get(key) for key in changed},
            "after": {key: after.get(key) for key in changed},
        },
    )


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING_METHODS:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        try:
            await self.app(scope, receive, hold)
        except Exception:
            if not (scope.get("state") or {}).get(DELEGATED_STATE_KEY):
                await self._record(scope, status=500, body=b"", error_code="INTERNAL_ERROR")
            raise
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        status = int(start["status"]) if start else 500
        state: dict[str, Any] = scope.get("state") or {}
        if state.get(DELEGATED_STATE_KEY):
            # A page's form that went on to the API: the API request's own record stands for it.
            for message in held:
                await send(message)
            return
        body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
        content_type = Headers(raw=start["headers"]).get("content-type", "") if start else ""
        await self._record(scope, status=status, body=body if "json" in content_type else b"", error_code=None)
        for message in held:
            await send(message)

    async def _record(self, scope: Scope, *, status: int, body: bytes, error_code: str | None) -> None:
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        state: dict[str, Any] = scope.get("state") or {}
        override: dict[str, Any] = state.get("audit") or {}
        error_code = error_code or override.get("error_code")
        if error_code is None and status >= 400 and isinstance(parsed, dict):
            error_code = str(parsed.get("code")) if parsed.get("code") else None
        route = scope.get("route")
        extra = getattr(route, "openapi_extra", None) or {}
        principal = state.get("principal")
        path_params: dict[str, Any] = scope.get("path_params") or {}
        target_id = override.get("target_id") or next(
            (str(value) for key, value in path_params.items() if key.endswith("_id")), None
        )
        if target_id is None and status == 201 and isinstance(parsed, dict) and isinstance(parsed.get("id"), str):
            target_id = parsed["id"]
        headers = Headers(scope=scope)
        client = scope.get("client")
        entry = AuditEntry(
            org_id=override.get("org_id") or (principal.org_id if principal else NO_ORG),
            actor_id=override.get("actor_id") or (principal.user_id if principal else None),
            actor_role=override.get("actor_role") or (principal.role if principal else ANONYMOUS),
            action=str(extra.get(AUDIT_ACTION_KEY) or f"{scope['method'].lower()}.unrouted"),
            target_type=extra.get(AUDIT_TARGET_KEY),
            target_id=target_id[:64] if target_id else None,
            status=status,
            error_code=error_code,
            request_id=current_request_id() or "",
            client_ip=client[0] if client else None,
            user_agent=headers.get("user-agent"),
            changes=override.get("changes"),
        )
        database: Database = scope["app"].state.database
        try:
            # Scoped to the record's own chain: the caller's org, the signing-in user's org, or
            # NO_ORG ("-") for an anonymous request, which is the only code that writes there.
            async with database.session(write=True, org_id=entry.org_id) as session:
                await append_record(session, entry, sign_with=checkpoint_key_of(scope["app"].state))
        except Exception:
            # The outcome stands (it may already be committed in the kernel); the gap is loud.
            log.exception("audit_write_failed", action=entry.action, status=status)
        else:
            AUDIT_RECORDS.labels(outcome_of(status)).inc()

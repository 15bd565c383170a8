"""Per-request context (request id, org, user) shared by logs, kernel calls and events."""

from __future__ import annotations

import re
import uuid
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def accept_or_new_request_id(candidate: str | None) -> str:
    """A client's id is kept only when it matches ``[A-Za-z0-9._-]{1,128}``; otherwise a new one."""
    if candidate and _VALID_REQUEST_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return request_id_var.get()


def bind_identity(*, org_id: str | None = None, user_id: str | None = None, role: str | None = None) -> None:
    """Attach who is calling to every later log line of this request."""
    values = {k: v for k, v in {"org_id": org_id, "user_id": user_id, "role": role}.items() if v is not None}
    structlog.contextvars.bind_contextvars(**values)


# The ASGI scope of the request being served, so code far from it (an outbound call failing, say)
# can name the route it serves by its template once the router has matched it.
request_scope_var: ContextVar[MutableMapping[str, Any] | None] = ContextVar("request_scope", default=None)


def current_route_template() -> str | None:
    """The matched route's template (``/api/deals/{deal_id}``), or None outside a routed request."""
    scope = request_scope_var.get()
    route = scope.get("route") if scope else None
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None

"""What each API route of the BFF declares: its permission and, for writes, its audit action.

Read from the app's router itself, so docs/RBAC.md and the route-walking tests cover
every route the app really serves, including ones added later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.routing import APIRoute

from cornerstone.bff.audit.middleware import AUDIT_ACTION_KEY

# The web UI's page routes carry this tag. They are clients of the API routes (which declare the
# permissions); tests/bff/test_pages_walk.py walks them for their own rules (session, CSRF).
PAGE_TAG = "ui"


@dataclass(frozen=True, slots=True)
class DeclaredRoute:
    method: str
    path: str
    permission: str | None
    audit_action: str | None


def declared_permission(route: APIRoute) -> str | None:
    """The ``.permission`` of a dependency anywhere in the route's dependency tree."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        permission = getattr(dependant.call, "permission", None)
        if permission is not None:
            return str(getattr(permission, "value", permission))
        pending.extend(dependant.dependencies)
    return None


def declared_routes(app: FastAPI) -> list[DeclaredRoute]:
    # Recent FastAPI keeps included routers as lazy branches; iter_route_contexts flattens them.
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    contexts: list[Any] = list(iter_contexts(app.routes)) if iter_contexts else list(app.routes)
    declared = []
    for context in contexts:
        route = getattr(context, "original_route", context)
        if not isinstance(route, APIRoute) or PAGE_TAG in (route.tags or ()):
            continue
        extra = route.openapi_extra or {}
        for method in sorted(context.methods - {"HEAD", "OPTIONS"}):
            declared.append(
                DeclaredRoute(method, context.path, declared_permission(route), extra.get(AUDIT_ACTION_KEY))
            )
    return sorted(declared, key=lambda r: (r.path, r.method))

"""Which route a request was for, when a perimeter layer refuses it before the router runs.

The audit layer names a record after ``scope["route"]`` and its ``path_params``, which the router
sets. A request refused earlier (rate limit, CSRF, body size) never reaches the router, yet its
record must still say what was attempted; ``annotate_route`` fills both keys the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import fastapi.routing
from starlette.convertors import Convertor
from starlette.routing import BaseRoute, compile_path
from starlette.types import Scope


@dataclass(frozen=True, slots=True)
class _Entry:
    regex: re.Pattern[str]
    methods: frozenset[str]
    convertors: dict[str, Convertor[Any]]
    route: BaseRoute


_TABLES: WeakKeyDictionary[Any, tuple[_Entry, ...]] = WeakKeyDictionary()


def _contexts(routes: Iterable[BaseRoute]) -> list[Any]:
    # FastAPI >= 0.16x keeps included routers as lazy branches; older versions list routes directly.
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(iter_contexts(list(routes))) if iter_contexts else list(routes)


def _table(app: Any) -> tuple[_Entry, ...]:
    table = _TABLES.get(app)
    if table is None:
        entries = []
        for context in _contexts(app.routes):
            path = getattr(context, "path", None)
            methods = getattr(context, "methods", None)
            if not isinstance(path, str) or not methods:
                continue
            regex, _format, convertors = compile_path(path)
            entries.append(_Entry(regex, frozenset(methods), convertors, getattr(context, "original_route", context)))
        table = tuple(entries)
        _TABLES[app] = table
    return table


def annotate_route(scope: Scope) -> None:
    """Set ``scope["route"]`` and ``scope["path_params"]`` as the router would, if a route matches."""
    app = scope.get("app")
    if "route" in scope or app is None or not hasattr(app, "routes"):
        return
    path = scope.get("path", "")
    for entry in _table(app):
        match = entry.regex.match(path)
        if match and scope.get("method") in entry.methods:
            scope["route"] = entry.route
            scope["path_params"] = {
                name: entry.convertors[name].convert(value) for name, value in match.groupdict().items()
            }
            return

"""Pure ASGI middleware counting and timing every HTTP answer of a service (API.md, "Observability").

``cornerstone_http_requests_total{service,method,route,status}`` and
``cornerstone_http_request_duration_seconds{service,method,route}``. The labels are bounded
whatever clients send: ``route`` is the template of the route the router matched (or a
perimeter layer named with ``kit.route_lookup``), ``unmatched`` when none did, so a client
typing random paths cannot create one series per path; ``method`` is one of the standard
methods or ``other``.

It sits just inside the request context (``kit.service_app``), so it sees the status of every
answer, refusals of the perimeter included. A crash that escapes the app is counted as the 500
the request context then renders. The web UI's in-process API calls go through the stack too
and count as requests of their own API routes.
"""

from __future__ import annotations

import time
from typing import Any
from weakref import WeakKeyDictionary

import fastapi.routing
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cornerstone.kit.metrics import HTTP_DURATION, HTTP_REQUESTS

UNMATCHED = "unmatched"
OTHER_METHOD = "other"
STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})


# Per app: the path template of each plain Starlette route and mount, by id of its endpoint.
_TEMPLATES: WeakKeyDictionary[Any, dict[int, str]] = WeakKeyDictionary()


def _templates_by_endpoint(app: Any) -> dict[int, str]:
    templates = _TEMPLATES.get(app)
    if templates is None:
        templates = {}
        routes = list(getattr(app, "routes", ()))
        # FastAPI >= 0.16x keeps included routers as lazy branches; iter_route_contexts flattens them.
        iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
        for context in iter_contexts(routes) if iter_contexts else routes:
            route = getattr(context, "original_route", context)
            path = getattr(route, "path", None)
            target = route.app if isinstance(route, Mount) else getattr(route, "endpoint", None)
            if isinstance(path, str) and path and target is not None:
                templates.setdefault(id(target), path)
        _TEMPLATES[app] = templates
    return templates


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/deals/{deal_id}``), or ``UNMATCHED``.

    FastAPI puts an ``APIRoute`` in ``scope["route"]`` (as ``kit.route_lookup`` does for a request a
    perimeter layer refused); a plain Starlette route (``/metrics``, the OpenAPI document) or a mount
    (``/static``) leaves only its ``endpoint`` there, which is looked up in the app's routes.
    """
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and path:
        return path
    endpoint = scope.get("endpoint")
    app = scope.get("app")
    if endpoint is None or app is None:
        return UNMATCHED
    return _templates_by_endpoint(app).get(id(endpoint), UNMATCHED)


def method_label(method: str) -> str:
    return method if method in STANDARD_METHODS else OTHER_METHOD


class HttpMetricsMiddleware:
    """Counts each answer by status and observes its duration, labelled by ``service``."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        # Children by label values: `labels()` takes a lock and builds a tuple per call; the label
        # sets are bounded (routes x methods x statuses), so caching them costs little memory.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the request context answers if the app raises before starting a response

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            self._observe(method_label(scope["method"]), route_template(scope), status, time.perf_counter() - started)

    def _observe(self, method: str, route: str, status: int, seconds: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = HTTP_REQUESTS.labels(self.service, method, route, str(status))
            self._counters[(method, route, status)] = counter
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = HTTP_DURATION.labels(self.service, method, route)
            self._histograms[(method, route)] = histogram
        histogram.observe(seconds)

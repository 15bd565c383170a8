"""``GET /metrics`` of both services: the process's Prometheus registry, for a scraper holding the token.

The answer is ``prometheus_client``'s text exposition of the default registry: every family of
``kit.metrics``, the database pool collector (``kit.db_metrics``) and the client library's own
process and platform collectors (memory, CPU, open files). It needs ``Authorization: Bearer
<metrics token>`` (``CommonSettings.resolved_metrics_token``, put on ``app.state.metrics_token`` by
the service's lifespan); anything else is a 401 problem with ``WWW-Authenticate: Bearer``, and an
app whose lifespan set no token refuses every scrape. The token is compared in constant time.

It is a plain Starlette route, outside ``/api`` and the OpenAPI schema: no user, no role, no
audit record (a read), no org. The BFF's rate limiter exempts it like the probes, so a scraper is
never throttled or locked out; guessing a generated token (48 random bytes) is hopeless anyway.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from cornerstone.kit.problems import Unauthorized, app_error_response

METRICS_PATH = "/metrics"


def _presented_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def metrics(request: Request) -> Response:
    """The registry as Prometheus text, or 401 without the metrics token."""
    expected: str | None = getattr(request.app.state, "metrics_token", None)
    presented = _presented_token(request)
    if presented is None:
        return app_error_response(Unauthorized("The metrics token is required: `Authorization: Bearer <token>`."))
    # Bytes, not str: compare_digest refuses non-ASCII strings, and a header may carry any latin-1.
    if expected is None or not hmac.compare_digest(presented.encode("latin-1"), expected.encode()):
        return app_error_response(Unauthorized("The metrics token is not valid."))
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def install_metrics_endpoint(app: FastAPI) -> None:
    """Serve ``GET /metrics`` on ``app`` (HEAD too, as Starlette does for every GET route)."""
    app.add_route(METRICS_PATH, metrics, methods=["GET"], include_in_schema=False)

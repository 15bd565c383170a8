"""A bounded, in-process record of recent server-side errors and failed outbound calls, for
``GET /api/debug/errors``: what an operator needs to find the log lines (when, which request id,
which route, what status and problem code, what kind of failure), and nothing else - never a
body, a header, a query string or an exception message, any of which may carry data or secrets.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from cornerstone.kit.request_context import current_request_id, current_route_template

CAPACITY = 200


@dataclass(frozen=True, slots=True)
class RecentError:
    at: str  # RFC 3339 UTC
    request_id: str | None
    route: str | None  # the route template of the request being served
    status: int | None  # our answer's status; for an outbound failure, the dependency's (None: no answer)
    code: str | None  # the problem code answered, when there was one
    error: str  # a kind, never a message: "ReadTimeout", "status 503", "unhandled ValueError"
    dependency: str | None = None  # set for a failed outbound call

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class RecentErrors:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._items: deque[RecentError] = deque(maxlen=capacity)
        self._lock = threading.Lock()  # sync routes run in a thread pool

    def record_server_error(self, *, route: str | None, status: int, code: str | None, error: str) -> None:
        self._append(RecentError(_now(), current_request_id(), route, status, code, error))

    def record_outbound(self, dependency: str, operation: str, *, status: int | None, error: str) -> None:
        route = current_route_template()
        self._append(
            RecentError(_now(), current_request_id(), route, status, None, f"{operation}: {error}", dependency)
        )

    def latest(self, limit: int) -> list[RecentError]:
        """Newest first."""
        with self._lock:
            items = list(self._items)
        return items[::-1][:limit]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def _append(self, item: RecentError) -> None:
        with self._lock:
            self._items.append(item)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# One per process: both services' errors, when both run in one process (tests), side by side.
RECENT_ERRORS = RecentErrors()

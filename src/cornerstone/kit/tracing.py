"""W3C Trace Context (``traceparent``): accepted from the client, carried to the kernel, and its
trace id on every log line of the request in both services.

A valid incoming ``traceparent`` keeps its trace id and flags; anything else (absent, malformed,
an all-zero id, version ``ff``) starts a new trace, as the recommendation says. Each service is
one span: it answers with ``traceparent`` naming its own span id, and a call it makes names a new
child span. Exporting spans (OpenTelemetry) is not built: the ids tie log lines together.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

TRACEPARENT_HEADER = "traceparent"
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str  # 32 lower-case hex digits
    span_id: str  # this service's span: 16 lower-case hex digits
    flags: str  # 2 hex digits (01: sampled)

    def header(self) -> str:
        """The ``traceparent`` naming this span (sent on the response)."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child_header(self) -> str:
        """A ``traceparent`` for an outbound call: same trace, a new span under this one."""
        return f"00-{self.trace_id}-{new_span_id()}-{self.flags}"


trace_var: ContextVar[TraceContext | None] = ContextVar("trace", default=None)


def new_span_id() -> str:
    return secrets.token_hex(8)


def accept_or_new_trace(header: str | None) -> TraceContext:
    """The trace an incoming ``traceparent`` names, with a new span for this service; else a new trace."""
    match = _TRACEPARENT.match(header.strip()) if header else None
    if match:
        version, trace_id, parent_id, flags, rest = match.groups()
        # Version 00 has exactly four fields; a later version may add more after a dash.
        valid_version = version != "ff" and (version != "00" or rest is None)
        if valid_version and trace_id != _ZERO_TRACE and parent_id != _ZERO_SPAN:
            return TraceContext(trace_id, new_span_id(), flags)
    return TraceContext(secrets.token_hex(16), new_span_id(), "00")


def current_traceparent_for_call() -> str | None:
    trace = trace_var.get()
    return trace.child_header() if trace else None

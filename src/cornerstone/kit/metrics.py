"""The Prometheus metric families both services export (names fixed by API.md, "Observability").

One module holds every family, so a dashboard or alert rule can be checked against the code
(``tests/kit/test_deploy_rules.py`` reads ``FAMILIES``). Labels never carry a raw path, an id or
anything a client typed: ``route`` is the route template, ``dependency`` a fixed name.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Seconds; fine at the low end, where a healthy read lives, and reaching past the kernel's timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "cornerstone_http_requests_total",
    "HTTP requests answered, by service, method, route template and status.",
    ["service", "method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "cornerstone_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer.",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)
OUTBOUND_DURATION = Histogram(
    "cornerstone_outbound_call_duration_seconds",
    "Calls to a dependency by outcome: success, failure (connection error, timeout, 5xx), rejected "
    "(refused by an open breaker, never sent).",
    ["dependency", "outcome"],
    buckets=LATENCY_BUCKETS,
)
CIRCUIT_STATE = Gauge(
    "cornerstone_circuit_state",
    "State of a dependency's circuit breaker: 0 closed, 1 half-open, 2 open.",
    ["dependency"],
)
CIRCUIT_TRANSITIONS = Counter(
    "cornerstone_circuit_transitions_total",
    "Circuit breaker state changes, by the state entered.",
    ["dependency", "to"],
)
RETRIES = Counter(
    "cornerstone_retries_total",
    "Attempts after the first of an idempotent call to a dependency.",
    ["dependency"],
)
IDEMPOTENCY_REPLAYS = Counter(
    "cornerstone_idempotency_replays_total",
    "Money requests answered from a stored outcome (same Idempotency-Key, same payload).",
)
RATE_LIMITED = Counter(
    "cornerstone_rate_limited_total",
    "Requests refused with 429, by the policy that refused them.",
    ["policy"],
)
AUDIT_RECORDS = Counter(
    "cornerstone_audit_records_total",
    "Audit records written, by outcome (the request's result class).",
    ["outcome"],
)
RATE_LIMIT_STORAGE_FALLBACK = Gauge(
    "cornerstone_rate_limit_storage_fallback",
    "1 while the BFF counts rate limits in its own memory because the configured Redis failed; "
    "0 while counters are shared in Redis or none is configured.",
)

# Exported by a collector (kit.db_metrics) that reads each service's SQLAlchemy pools at scrape time.
DB_POOL_CONNECTIONS = "cornerstone_db_pool_connections"
DB_POOL_MAX_CONNECTIONS = "cornerstone_db_pool_max_connections"

# Every family this module defines or names, by the name a scrape shows (counters get `_total`).
FAMILIES: tuple[str, ...] = (
    "cornerstone_http_requests_total",
    "cornerstone_http_request_duration_seconds",
    "cornerstone_outbound_call_duration_seconds",
    "cornerstone_circuit_state",
    "cornerstone_circuit_transitions_total",
    "cornerstone_retries_total",
    "cornerstone_idempotency_replays_total",
    "cornerstone_rate_limited_total",
    "cornerstone_audit_records_total",
    "cornerstone_rate_limit_storage_fallback",
    DB_POOL_CONNECTIONS,
    DB_POOL_MAX_CONNECTIONS,
)

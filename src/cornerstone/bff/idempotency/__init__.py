"""Idempotency keys of money POSTs: claim, run once, store, replay (API.md, cross-cutting rules).

Routes declare ``cornerstone.bff.idempotency.dependencies.Idempotent`` and answer with
``await idem.run(status_code=201, action=...)``; ``sweep_expired_idempotency_records`` prunes.
"""

from cornerstone.bff.idempotency.service import (
    IN_FLIGHT_LEASE,
    KEY_HEADER,
    RECORD_TTL,
    REPLAYED_HEADER,
    Idempotency,
    request_fingerprint,
    sweep_expired_idempotency_records,
)

__all__ = [
    "IN_FLIGHT_LEASE",
    "KEY_HEADER",
    "RECORD_TTL",
    "REPLAYED_HEADER",
    "Idempotency",
    "request_fingerprint",
    "sweep_expired_idempotency_records",
]

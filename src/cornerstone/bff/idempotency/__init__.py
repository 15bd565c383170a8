"""Idempotency keys of money POSTs: claim, run once, store, replay (API.md, cross-cutting rules).

Routes declare ``cornerstone.bff.idempotency.dependencies.Idempotent`` and answer with
``await idem.run(status_code=201, action=...)``; ``cornerstone.bff.maintenance`` prunes expired records.
"""

from cornerstone.bff.idempotency.service import IN_FLIGHT_LEASE, RECORD_TTL, Idempotency, request_fingerprint
from cornerstone.kit.idempotency_keys import KEY_HEADER, REPLAYED_HEADER

__all__ = [
    "IN_FLIGHT_LEASE",
    "KEY_HEADER",
    "RECORD_TTL",
    "REPLAYED_HEADER",
    "Idempotency",
    "request_fingerprint",
]

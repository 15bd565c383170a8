"""The hash chain of the kernel event log: pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cornerstone.kit.clock import isoformat_utc
from cornerstone.kit.hashchain import GENESIS_HASH, chain_hash

__all__ = ["GENESIS_HASH", "ChainedFields", "event_hash"]


@dataclass(frozen=True, slots=True)
class ChainedFields:
    """Exactly the stored fields the hash covers (everything but the hash itself)."""

    id: str
    org_id: str
    seq: int
    type: str
    subject_type: str
    subject_id: str
    payload: str
    actor_id: str
    actor_role: str
    request_id: str | None
    prev_hash: str
    created_at: datetime


def event_hash(fields: ChainedFields) -> str:
    document = {
        "id": fields.id,
        "org_id": fields.org_id,
        "seq": fields.seq,
        "type": fields.type,
        "subject_type": fields.subject_type,
        "subject_id": fields.subject_id,
        "payload": fields.payload,
        "actor_id": fields.actor_id,
        "actor_role": fields.actor_role,
        "request_id": fields.request_id,
        "prev_hash": fields.prev_hash,
        "created_at": isoformat_utc(fields.created_at),
    }
    return chain_hash(document)

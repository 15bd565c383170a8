"""Opaque random identifiers: never sequential, never guessable."""

from __future__ import annotations

import uuid


def new_id() -> str:
    """A random UUIDv4 as 32 lowercase hex characters."""
    return uuid.uuid4().hex


def is_well_formed_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)

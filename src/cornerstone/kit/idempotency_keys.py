"""The ``Idempotency-Key`` header as API.md defines it, checked the same way by the BFF and the kernel."""

from __future__ import annotations

from collections.abc import Sequence

from cornerstone.kit.problems import IdempotencyKeyRequired

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotency-Replayed"
MAX_KEY_LENGTH = 255


def is_valid_key(key: str) -> bool:
    """1-255 printable ASCII characters (space to ``~``)."""
    return 0 < len(key) <= MAX_KEY_LENGTH and all(" " <= char <= "~" for char in key)


def validated_key(values: Sequence[str]) -> str:
    """The one ``Idempotency-Key`` of a request (all values of the header): 1-255 printable ASCII
    characters (space to ``~``); else 400 ``IDEMPOTENCY_KEY_REQUIRED``."""
    if not values or not values[0]:
        raise IdempotencyKeyRequired(
            f"This request moves money: send an `{KEY_HEADER}` header (1-{MAX_KEY_LENGTH} printable ASCII "
            "characters, e.g. a UUID), and the same one again on every retry."
        )
    if len(values) > 1:
        raise IdempotencyKeyRequired(f"Send exactly one `{KEY_HEADER}` header, not {len(values)}.")
    key = values[0]
    if not is_valid_key(key):
        raise IdempotencyKeyRequired(
            f"The `{KEY_HEADER}` header is malformed: it must be 1-{MAX_KEY_LENGTH} printable ASCII characters."
        )
    return key

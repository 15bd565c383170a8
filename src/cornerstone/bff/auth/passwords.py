"""Password hashing with argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash("cornerstone-timing-equaliser")

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
# Length over composition (NIST SP 800-63B), plus a refusal of the passwords tried first.
_COMMON = frozenset(
    {
        "password1234",
        "password12345",
        "password123456",
        "123456789012",
        "1234567890123",
        "qwertyuiopas",
        "qwerty123456",
        "letmein12345",
        "welcome12345",
        "iloveyou1234",
        "administrator",
        "changeme1234",
    }
)


def password_problem(password: str) -> str | None:
    """Why ``password`` is too weak, or None. Never echoes the password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    if len(set(password)) < 4:
        return "must not repeat a few characters"
    lowered = password.lower()
    if lowered in _COMMON or lowered.isdigit():
        return "is too common or guessable"
    return None


def strong_password(password: str) -> str:
    """A pydantic ``AfterValidator``: the password, if it is strong enough."""
    problem = password_problem(password)
    if problem is not None:
        raise ValueError(problem)
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False

"""Access tokens (RFC 8725): HS256 only, ``iss``, ``aud``, ``exp``, ``iat``, ``nbf``, ``jti`` required,
``kid`` looked up in the configured key ring and nowhere else.

A token also carries the user's ``tv`` (token version): bumping the user's version (logout
everywhere, role change, deactivation, password change) ends every token minted before.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from cornerstone.bff.auth.keys import KeyRing

ALGORITHMS = ["HS256"]
_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "org", "tv"]
CLOCK_LEEWAY_SECONDS = 5  # between this process's clock and the one that issued the token
MAX_JTI_LENGTH = 128  # ours are 32 hex digits; a kilobyte-long one is not ours


@dataclass(frozen=True, slots=True)
class TokenKeys:
    issuer: str
    audience: str
    keyring: KeyRing
    ttl_seconds: int

    @property
    def kid(self) -> str:
        return self.keyring.signing.kid


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: str
    org_id: str
    jti: str
    token_version: int
    expires_at: datetime


class InvalidToken(Exception):
    pass


def issue_access_token(keys: TokenKeys, *, user_id: str, org_id: str, role: str, token_version: int) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": keys.issuer,
        "aud": keys.audience,
        "sub": user_id,
        "org": org_id,
        "role": role,
        "tv": token_version,
        "iat": now,
        "nbf": now,
        "exp": now + keys.ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    signing = keys.keyring.signing
    return jwt.encode(claims, signing.secret, algorithm="HS256", headers={"kid": signing.kid})


def decode_access_token(keys: TokenKeys, token: str) -> TokenClaims:
    try:
        header = jwt.get_unverified_header(token)
        secret = keys.keyring.verification_key(str(header.get("kid", "")))
        if secret is None:
            raise InvalidToken("unknown key id")
        claims = jwt.decode(
            token,
            secret,
            algorithms=ALGORITHMS,
            audience=keys.audience,
            issuer=keys.issuer,
            options={"require": _REQUIRED_CLAIMS},
        )
        _check_claims(claims, keys)
        token_version = claims["tv"]
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    return TokenClaims(
        user_id=str(claims["sub"]),
        org_id=str(claims["org"]),
        jti=str(claims["jti"]),
        token_version=token_version,
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
    )


def _check_claims(claims: dict[str, Any], keys: TokenKeys) -> None:
    """What PyJWT leaves open (RFC 8725 asks the application to decide): ``aud`` must be our audience as
    one string (a list holding it is accepted by PyJWT), the lifetime ``exp - iat`` no longer than the
    configured one (a token signed with a real key for 30 years is refused), ``iat`` not in the future,
    ``jti`` a non-empty string of bounded length, ``tv`` an integer."""
    if not isinstance(claims["aud"], str):
        raise InvalidToken("the audience must be one string")
    issued, expires = claims["iat"], claims["exp"]
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in (issued, expires)):
        raise InvalidToken("iat and exp must be numbers")
    if expires - issued > keys.ttl_seconds + CLOCK_LEEWAY_SECONDS:
        raise InvalidToken("a lifetime longer than tokens are issued for")
    if issued > time.time() + CLOCK_LEEWAY_SECONDS:
        raise InvalidToken("issued in the future")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise InvalidToken(f"jti must be a string of 1 to {MAX_JTI_LENGTH} characters")
    for name in ("sub", "org"):
        if not isinstance(claims[name], str) or not claims[name]:
            raise InvalidToken(f"{name} must be a non-empty string")
    token_version = claims["tv"]
    if not isinstance(token_version, int) or isinstance(token_version, bool):
        raise InvalidToken("bad token version")


class VerifiedTokens:
    """Tokens this process has already verified, so a token presented again skips the signature and
    claim checks (which cost more than the rest of the token check) but never its expiry.

    Keyed by the token's exact text and tied to the key ring that verified it (which does not change
    while the process runs): the same text always decodes to the same claims. Bounded, least recently
    used first out; an entry is dropped once its token expires.
    """

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[TokenKeys, TokenClaims, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def decode(self, keys: TokenKeys, token: str) -> TokenClaims:
        """``decode_access_token``, answered from memory for a token these very keys verified before
        and that has not expired since."""
        entry = self._entries.get(token)
        if entry is not None:
            verified_by, claims, expires = entry
            if verified_by is keys and self.clock() < expires:
                self._entries.move_to_end(token)
                return claims
            del self._entries[token]
        claims = decode_access_token(keys, token)  # raises InvalidToken: nothing is stored
        expires = claims.expires_at.timestamp()
        if self.clock() < expires:
            self._entries[token] = (keys, claims, expires)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return claims

"""Access tokens (RFC 8725): HS256 only, ``iss``, ``aud``, ``exp``, ``iat``, ``nbf``, ``jti`` required,
``kid`` looked up in the configured key ring and nowhere else.

A token also carries the user's ``tv`` (token version): bumping the user's version (logout
everywhere, role change, deactivation, password change) ends every token minted before.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from cornerstone.bff.auth.keys import KeyRing

ALGORITHMS = ["HS256"]
_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "org", "tv"]


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
        token_version = claims["tv"]
        if not isinstance(token_version, int) or isinstance(token_version, bool):
            raise InvalidToken("bad token version")
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    return TokenClaims(
        user_id=str(claims["sub"]),
        org_id=str(claims["org"]),
        jti=str(claims["jti"]),
        token_version=token_version,
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
    )

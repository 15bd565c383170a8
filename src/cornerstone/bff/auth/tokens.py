"""Access tokens: HS256 JWTs with ``iss``, ``aud``, ``exp``, ``iat``, ``nbf``, ``jti`` and a ``kid``."""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHMS = ["HS256"]


@dataclass(frozen=True, slots=True)
class TokenKeys:
    issuer: str
    audience: str
    signing_key: str
    ttl_seconds: int

    @property
    def kid(self) -> str:
        return hashlib.sha256(self.signing_key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: str
    org_id: str
    jti: str


class InvalidToken(Exception):
    pass


def issue_access_token(keys: TokenKeys, *, user_id: str, org_id: str, role: str) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": keys.issuer,
        "aud": keys.audience,
        "sub": user_id,
        "org": org_id,
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + keys.ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, keys.signing_key, algorithm="HS256", headers={"kid": keys.kid})


def decode_access_token(keys: TokenKeys, token: str) -> TokenClaims:
    try:
        header = jwt.get_unverified_header(token)
        if header.get("kid") != keys.kid:
            raise InvalidToken("unknown key id")
        claims = jwt.decode(
            token,
            keys.signing_key,
            algorithms=ALGORITHMS,
            audience=keys.audience,
            issuer=keys.issuer,
            options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    return TokenClaims(user_id=str(claims["sub"]), org_id=str(claims.get("org", "")), jti=str(claims["jti"]))

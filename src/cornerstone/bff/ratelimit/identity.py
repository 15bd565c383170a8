"""Whose budget a request spends: a verified user, or the client address; and a sign-in's account.

The user comes only from a token whose signature, issuer, audience and expiry check out (the
same ``decode_access_token`` the auth dependency uses). A missing, forged or expired token is
counted against the client address, so nobody can spend another user's budget by naming them,
nor get a fresh budget per made-up token. It is checked here, before routing, rather than in
the ``current_user`` dependency, so the limit also covers requests that never reach one (unknown
routes, 405s, refused bodies) and runs before the user's database lookup it protects.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
from starlette.requests import cookie_parser
from starlette.types import Scope

from cornerstone.bff.auth.tokens import InvalidToken, TokenKeys, decode_access_token
from cornerstone.kit.client_address import parse_ip

SESSION_COOKIE = "cs_session"
IPV6_PREFIX = 64  # one subscriber usually holds a whole /64: count it as one client


@dataclass(frozen=True, slots=True)
class VerifiedCaller:
    user_id: str
    org_id: str
    token: str

    def role(self) -> str | None:
        """The role the (already verified) token was issued with; for the audit record of a refusal."""
        claims: dict[str, Any] = jwt.decode(self.token, options={"verify_signature": False})
        role = claims.get("role")
        return str(role) if role else None


def presented_token(scope: Scope) -> str | None:
    """The bearer token, or else the UI's session cookie, as presented (unverified)."""
    cookie_header: str | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
        if name == b"cookie":
            cookie_header = value.decode("latin-1")
    if cookie_header is not None:
        return cookie_parser(cookie_header).get(SESSION_COOKIE) or None
    return None


class _VerifiedTokens:
    """Tokens that verified, until their ``exp``: a client sends the same token on every request,
    and verifying it (PyJWT checks the base64 of each segment character by character) costs more
    than all the rest of the perimeter. Only successes are kept, bounded, least recently used first
    out; an entry is tied to the key set that verified it. Revocation is not this layer's concern:
    a revoked token still counts against its own user's budget, never anyone else's."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[TokenKeys, float, VerifiedCaller]] = OrderedDict()

    def get(self, keys: TokenKeys, token: str) -> VerifiedCaller | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        entry_keys, expires_at, caller = entry
        if entry_keys is not keys or time.time() >= expires_at:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return caller

    def put(self, keys: TokenKeys, token: str, caller: VerifiedCaller) -> None:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        self._entries[token] = (keys, float(claims["exp"]), caller)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)


_verified = _VerifiedTokens()


def verified_caller(scope: Scope) -> VerifiedCaller | None:
    token = presented_token(scope)
    if token is None:
        return None
    app = scope.get("app")
    keys: TokenKeys | None = getattr(getattr(app, "state", None), "token_keys", None)
    if keys is None:
        return None
    caller = _verified.get(keys, token)
    if caller is not None:
        return caller
    try:
        claims = decode_access_token(keys, token)
    except InvalidToken:
        return None
    caller = VerifiedCaller(claims.user_id, claims.org_id, token)
    _verified.put(keys, token, caller)
    return caller


def client_identity(scope: Scope) -> str:
    """``ip:<address>`` of the client (after trusted-proxy resolution); IPv6 by its /64."""
    client = scope.get("client")
    address = parse_ip(client[0]) if client else None
    if address is None:
        return "ip:unknown"
    if isinstance(address, ipaddress.IPv6Address):
        return f"ip:{ipaddress.ip_network(f'{address}/{IPV6_PREFIX}', strict=False)}"
    return f"ip:{address}"


def account_identity(body: bytes) -> str | None:
    """``account:<sha256>`` of the email a sign-in body names, or ``None`` if it names none.

    Normalised at least as hard as the sign-in endpoint normalises it (case folded, whitespace and
    control characters dropped), so no spelling of one account escapes its budget; two spellings
    that the endpoint would tell apart may share one, which only makes the limit stricter.
    Hashed, so no email is written to Redis."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    email = document.get("email") if isinstance(document, dict) else None
    if not isinstance(email, str):
        return None
    folded = "".join(ch for ch in email.casefold() if not ch.isspace() and not unicodedata.category(ch).startswith("C"))
    if not folded:
        return None
    return "account:" + hashlib.sha256(folded.encode("utf-8", "surrogatepass")).hexdigest()

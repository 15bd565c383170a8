"""The kernel's service credential: short-lived HS256 tokens signed with the shared service key.

The BFF (and later the worker) mints one token per kernel call, naming the org the
call is scoped to and the end user on whose behalf it acts. The kernel accepts a
call only with a valid token whose org matches the org in the path.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt

SERVICE_TOKEN_ISSUER = "cornerstone-bff"  # noqa: S105 - a claim value, not a secret
SERVICE_TOKEN_AUDIENCE = "cornerstone-kernel"  # noqa: S105 - a claim value, not a secret
SERVICE_TOKEN_TTL_SECONDS = 60
_ALGORITHMS = ["HS256"]


@dataclass(frozen=True, slots=True)
class ServiceCaller:
    org_id: str
    actor_id: str
    actor_role: str
    service: str


class InvalidServiceToken(Exception):
    pass


# The last token minted for each caller, with the second it was minted in. Claims depend only on the
# caller and the whole second, and HS256 is deterministic, so a second call in the same second would
# produce the very same text: it is returned from here instead of being signed again.
_MINTED_MAX = 4096
_minted: dict[tuple[str, str, str, str, str], tuple[int, str]] = {}


def mint_service_token(key: str, *, org_id: str, actor_id: str, actor_role: str, service: str = "bff") -> str:
    now = int(time.time())
    caller = (key, org_id, actor_id, actor_role, service)
    minted = _minted.get(caller)
    if minted is not None and minted[0] == now:
        return minted[1]
    token = _sign(key, now, org_id=org_id, actor_id=actor_id, actor_role=actor_role, service=service)
    if len(_minted) >= _MINTED_MAX:
        _minted.clear()  # a second's worth of callers at most is worth keeping
    _minted[caller] = (now, token)
    return token


def _sign(key: str, now: int, *, org_id: str, actor_id: str, actor_role: str, service: str) -> str:
    claims = {
        "iss": SERVICE_TOKEN_ISSUER,
        "aud": SERVICE_TOKEN_AUDIENCE,
        "iat": now,
        "nbf": now - 5,
        "exp": now + SERVICE_TOKEN_TTL_SECONDS,
        "org": org_id,
        "act": actor_id,
        "rol": actor_role,
        "svc": service,
    }
    return jwt.encode(claims, key, algorithm="HS256")


_LEEWAY_SECONDS = 5
_VERIFIED_MAX = 4096
# Tokens that verified, with their exp: the BFF mints one per call, and calls for the same user in
# the same second carry the very same text, so the kernel's hottest check is a dict lookup. Only
# successes are kept (bounded, oldest first out), each under the key that verified it, and every
# use checks the expiry again.
_verified: OrderedDict[tuple[str, str], tuple[ServiceCaller, float]] = OrderedDict()


def verify_service_token(key: str, token: str) -> ServiceCaller:
    cached = _verified.get((key, token))
    if cached is not None:
        caller, expires = cached
        if time.time() < expires + _LEEWAY_SECONDS:
            return caller
        del _verified[(key, token)]
    caller, expires = _verify(key, token)
    _verified[(key, token)] = (caller, expires)
    if len(_verified) > _VERIFIED_MAX:
        _verified.popitem(last=False)
    return caller


def _verify(key: str, token: str) -> tuple[ServiceCaller, float]:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=_ALGORITHMS,
            audience=SERVICE_TOKEN_AUDIENCE,
            issuer=SERVICE_TOKEN_ISSUER,
            options={"require": ["exp", "iat", "nbf", "aud", "iss", "org", "act", "rol"]},
            leeway=_LEEWAY_SECONDS,
        )
    except jwt.PyJWTError as exc:
        raise InvalidServiceToken(str(exc)) from exc
    # What PyJWT leaves open: an audience list holding ours, and any lifetime the key's holder chose.
    if not isinstance(claims["aud"], str):
        raise InvalidServiceToken("the audience must be one string")
    issued, expires = claims["iat"], claims["exp"]
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in (issued, expires)):
        raise InvalidServiceToken("iat and exp must be numbers")
    if expires - issued > SERVICE_TOKEN_TTL_SECONDS + _LEEWAY_SECONDS:
        raise InvalidServiceToken("a lifetime longer than service tokens are minted for")
    if not all(isinstance(claims[name], str) and claims[name] for name in ("org", "act", "rol")):
        raise InvalidServiceToken("org, act and rol must be non-empty strings")
    caller = ServiceCaller(
        org_id=str(claims["org"]),
        actor_id=str(claims["act"]),
        actor_role=str(claims["rol"]),
        service=str(claims.get("svc", "bff")),
    )
    return caller, float(claims["exp"])

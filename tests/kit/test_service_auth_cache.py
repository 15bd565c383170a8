"""The kernel's service-credential check remembers tokens that verified: the same text is answered
from memory under the same key until it expires (plus the leeway), and nothing else is remembered."""

from __future__ import annotations

import secrets
import time

import jwt
import pytest

from cornerstone.kit import service_auth
from cornerstone.kit.service_auth import (
    SERVICE_TOKEN_AUDIENCE,
    SERVICE_TOKEN_ISSUER,
    InvalidServiceToken,
    mint_service_token,
    verify_service_token,
)


def test_a_token_that_verified_is_answered_from_memory_under_its_key_only() -> None:
    key, other_key = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    token = mint_service_token(key, org_id="o1", actor_id="u1", actor_role="gp")
    first = verify_service_token(key, token)
    assert (first.org_id, first.actor_id, first.actor_role, first.service) == ("o1", "u1", "gp", "bff")
    assert verify_service_token(key, token) is first
    with pytest.raises(InvalidServiceToken):
        verify_service_token(other_key, token)


def test_a_token_that_did_not_verify_is_refused_every_time() -> None:
    key = secrets.token_urlsafe(32)
    forged = mint_service_token(secrets.token_urlsafe(32), org_id="o1", actor_id="u1", actor_role="admin")
    for _ in range(2):
        with pytest.raises(InvalidServiceToken):
            verify_service_token(key, forged)
    assert not any(token == forged for _, token in service_auth._verified)


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_auth, "_LEEWAY_SECONDS", 0)  # so the test waits one second, not six
    key = secrets.token_urlsafe(32)
    now = int(time.time())
    claims = {"iss": SERVICE_TOKEN_ISSUER, "aud": SERVICE_TOKEN_AUDIENCE, "iat": now, "nbf": now - 5, "exp": now + 1}
    token = jwt.encode({**claims, "org": "o1", "act": "u1", "rol": "gp", "svc": "bff"}, key, algorithm="HS256")
    assert verify_service_token(key, token) is verify_service_token(key, token)
    time.sleep(max(0.0, now + 1 - time.time()) + 0.2)
    with pytest.raises(InvalidServiceToken):
        verify_service_token(key, token)

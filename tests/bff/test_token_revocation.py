"""Revocation: logout, logout everywhere, role change, deactivation and password change end tokens at once."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import jwt

from cornerstone.bff.auth.keys import load_keyring, rotate_keyring
from tests.support import TEST_PASSWORD, Org, Stack, login


def _new_user(org: Org, role: str = "gp") -> tuple[str, str, str]:
    email = f"rev-{uuid.uuid4().hex[:8]}@example.test"
    with org.client() as admin:
        user = admin.post("/api/users", json={"email": email, "role": role, "password": TEST_PASSWORD}).json()
    return user["id"], email, login(org.stack, email, TEST_PASSWORD)


def _me(stack: Stack, token: str) -> httpx.Response:
    with stack.client(token) as client:
        return client.get("/api/me")


def test_logout_revokes_only_the_presented_token(org: Org) -> None:
    _, email, first = _new_user(org)
    second = login(org.stack, email, TEST_PASSWORD)
    with org.stack.client(first) as client:
        assert client.post("/api/auth/logout").status_code == 204
    assert _me(org.stack, first).status_code == 401
    assert _me(org.stack, second).status_code == 200


def test_logout_everywhere_revokes_every_token_of_the_user(org: Org) -> None:
    _, email, first = _new_user(org)
    second = login(org.stack, email, TEST_PASSWORD)
    with org.stack.client(first) as client:
        assert client.post("/api/auth/logout", params={"all": "true"}).status_code == 204
    assert _me(org.stack, first).status_code == 401
    assert _me(org.stack, second).status_code == 401
    assert _me(org.stack, login(org.stack, email, TEST_PASSWORD)).status_code == 200


def test_a_role_change_revokes_the_users_tokens(org: Org) -> None:
    user_id, _, token = _new_user(org)
    with org.client() as admin:
        assert admin.patch(f"/api/users/{user_id}", json={"role": "analyst"}).status_code == 200
    assert _me(org.stack, token).status_code == 401


def test_reactivating_a_user_does_not_revive_their_old_tokens(org: Org) -> None:
    user_id, email, token = _new_user(org)
    with org.client() as admin:
        assert admin.patch(f"/api/users/{user_id}", json={"active": False}).status_code == 200
        assert admin.patch(f"/api/users/{user_id}", json={"active": True}).status_code == 200
    assert _me(org.stack, token).status_code == 401
    assert _me(org.stack, login(org.stack, email, TEST_PASSWORD)).status_code == 200


def test_a_password_change_needs_the_current_password_and_revokes_old_tokens(org: Org) -> None:
    _, email, token = _new_user(org)
    new_password = "a-much-better-passphrase-42"
    with org.stack.client(token) as client:
        wrong = client.post("/api/auth/password", json={"current_password": "nope", "new_password": new_password})
        assert (wrong.status_code, wrong.json()["code"]) == (401, "UNAUTHORIZED")
        weak = client.post("/api/auth/password", json={"current_password": TEST_PASSWORD, "new_password": "short"})
        assert weak.status_code == 422
        changed = client.post(
            "/api/auth/password", json={"current_password": TEST_PASSWORD, "new_password": new_password}
        )
        assert changed.status_code == 200, changed.text
        fresh = changed.json()["access_token"]
    assert _me(org.stack, token).status_code == 401
    assert _me(org.stack, fresh).status_code == 200
    with org.stack.client() as anonymous:
        assert anonymous.post("/api/auth/token", json={"email": email, "password": TEST_PASSWORD}).status_code == 401
    assert login(org.stack, email, new_password)


def test_weak_passwords_are_refused_with_the_reason(org: Org) -> None:
    with org.client() as admin:
        for weak in ("aaaaaaaaaaaaaaaa", "password12345", "123456789012"):
            response = admin.post(
                "/api/users", json={"email": f"w-{uuid.uuid4().hex[:8]}@example.test", "role": "gp", "password": weak}
            )
            assert response.status_code == 422, weak
            assert response.json()["errors"][0]["field"] == "body.password"


def test_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(tmp_path: Path) -> None:
    ring = load_keyring(tmp_path)
    assert load_keyring(tmp_path) == ring
    assert (tmp_path / "secrets" / "jwt_keys.json").stat().st_mode & 0o777 == 0o600
    rotated = rotate_keyring(tmp_path, token_ttl_seconds=86_400)
    assert [key.kid for key in rotated.keys] == [ring.signing.kid, rotated.signing.kid]
    assert rotated.verification_key(ring.signing.kid) == ring.signing.secret
    assert rotated.signing.kid != ring.signing.kid
    # A key superseded longer ago than a token lives is dropped at the next rotation.
    expired = rotate_keyring(tmp_path, token_ttl_seconds=0)
    assert [key.kid for key in expired.keys] == [rotated.signing.kid, expired.signing.kid]


def test_the_keys_rotate_command_rotates_the_data_dirs_ring(tmp_path: Path) -> None:
    before = load_keyring(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "cornerstone", "keys", "rotate", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    after = json.loads((tmp_path / "secrets" / "jwt_keys.json").read_text())
    assert len(after["keys"]) == 2
    assert before.signing.kid in result.stdout
    assert before.signing.secret not in result.stdout


def test_a_token_with_an_unknown_key_id_is_refused(stack: Stack, org: Org) -> None:
    with org.client() as admin:
        me = admin.get("/api/me").json()
    claims = jwt.decode(org.admin_token, options={"verify_signature": False})
    forged = jwt.encode(
        claims, stack.env["CORNERSTONE_JWT_SIGNING_KEY"], algorithm="HS256", headers={"kid": "not-a-kid"}
    )
    assert _me(stack, forged).status_code == 401
    assert me["id"] == claims["sub"]

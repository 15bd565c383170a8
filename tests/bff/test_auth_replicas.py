"""The cached token check across two BFF replicas (real uvicorn processes sharing one database and
one Redis): a sign-out, a deactivation, a role change or a password change made through replica A
binds the very next request to replica B, whose cache had just vouched for the token; and with
Redis gone the check still goes to the database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import text

from tests.bff.conftest import REDIS_URL
from tests.bff.test_rate_limits import PrivateRedis
from tests.support import (
    TEST_PASSWORD,
    Databases,
    Server,
    Stack,
    free_port,
    login,
    new_org,
    running_stack,
    start_server,
    sync_engine,
)


def _me(url: str, token: str) -> httpx.Response:
    return httpx.get(f"{url}/api/me", headers={"Authorization": f"Bearer {token}"})


def _new_user(stack: Stack, admin_token: str, role: str = "gp") -> tuple[str, str, str]:
    email = f"rep-{uuid.uuid4().hex[:8]}@example.test"
    with stack.client(admin_token) as admin:
        created = admin.post("/api/users", json={"email": email, "role": role, "password": TEST_PASSWORD})
    assert created.status_code == 201, created.text
    return created.json()["id"], email, login(stack, email, TEST_PASSWORD)


def _vouched_for_by(url: str, token: str) -> None:
    """Two 200s from one replica: the second is answered from its cache."""
    assert [_me(url, token).status_code for _ in range(2)] == [200, 200]


@pytest.fixture
def replicas(databases: Databases, tmp_path: Path, redis_prefix: str) -> Iterator[tuple[Stack, Server]]:
    env = {"CORNERSTONE_REDIS_URL": REDIS_URL, "CORNERSTONE_REDIS_KEY_PREFIX": redis_prefix}
    with running_stack(databases, tmp_path, env) as stack:
        second = start_server("bff", ["bff"], stack.env, free_port(), tmp_path)
        try:
            yield stack, second
        finally:
            second.stop()


def test_changes_through_one_replica_bind_the_next_request_to_the_other(
    replicas: tuple[Stack, Server], redis_prefix: str
) -> None:
    stack, replica_b = replicas
    a, b = stack.bff.url, replica_b.url
    org = new_org(stack)

    # Sign-out through A.
    _, email, token = _new_user(stack, org.admin_token)
    other_token = login(stack, email, TEST_PASSWORD)
    _vouched_for_by(b, token)
    _vouched_for_by(b, other_token)
    assert httpx.post(f"{a}/api/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    assert _me(b, token).status_code == 401
    assert _me(b, other_token).status_code == 200  # only the presented token ended

    # Deactivation through A.
    user_id, _, token = _new_user(stack, org.admin_token)
    _vouched_for_by(b, token)
    with httpx.Client(base_url=a, headers={"Authorization": f"Bearer {org.admin_token}"}) as admin:
        assert admin.patch(f"/api/users/{user_id}", json={"active": False}).status_code == 200
    assert _me(b, token).status_code == 401

    # Role change through A: the old token ends; a new one carries the new role on B.
    user_id, email, token = _new_user(stack, org.admin_token, role="gp")
    _vouched_for_by(b, token)
    with httpx.Client(base_url=a, headers={"Authorization": f"Bearer {org.admin_token}"}) as admin:
        assert admin.patch(f"/api/users/{user_id}", json={"role": "analyst"}).status_code == 200
    assert _me(b, token).status_code == 401
    assert _me(b, login(stack, email, TEST_PASSWORD)).json()["role"] == "analyst"

    # Password change through A, and sign-out everywhere through A.
    _, _, token = _new_user(stack, org.admin_token)
    _vouched_for_by(b, token)
    changed = httpx.post(
        f"{a}/api/auth/password",
        headers={"Authorization": f"Bearer {token}"},
        json={"current_password": TEST_PASSWORD, "new_password": "another-long-passphrase-7"},
    )
    assert changed.status_code == 200, changed.text
    assert _me(b, token).status_code == 401
    fresh = changed.json()["access_token"]
    _vouched_for_by(b, fresh)
    everywhere = httpx.post(f"{a}/api/auth/logout?all=true", headers={"Authorization": f"Bearer {fresh}"})
    assert everywhere.status_code == 204
    assert _me(b, fresh).status_code == 401

    # The generations live in Redis, under user ids only.
    keys = redis.Redis.from_url(REDIS_URL).keys(f"{redis_prefix}:authgen:*")
    assert keys
    assert not any(b"@" in key for key in keys)


def test_the_check_is_cached_while_nothing_the_bff_changed(replicas: tuple[Stack, Server]) -> None:
    """What makes the test above meaningful: B really answers from its cache. A row changed behind
    the BFF's back (no generation written) is not seen until the user's generation moves on."""
    stack, replica_b = replicas
    org = new_org(stack)
    user_id, _, token = _new_user(stack, org.admin_token)
    _vouched_for_by(replica_b.url, token)
    engine = sync_engine(stack.databases.bff_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE users SET active = false WHERE id = :id"), {"id": user_id})
    finally:
        engine.dispose()
    assert _me(replica_b.url, token).status_code == 200
    # Any change made through the API (here: an admin re-saves the user's role) moves the generation.
    with stack.client(org.admin_token) as admin:
        assert admin.patch(f"/api/users/{user_id}", json={"role": "gp"}).status_code == 200
    assert _me(replica_b.url, token).status_code == 401


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    import shutil

    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(executable, free_port(), tmp_path / "redis")
    server.start()
    yield server
    server.kill()


def test_with_redis_down_the_check_goes_to_the_database(
    databases: Databases, tmp_path: Path, private_redis: PrivateRedis
) -> None:
    env = {"CORNERSTONE_REDIS_URL": f"redis://127.0.0.1:{private_redis.port}/0"}
    with running_stack(databases, tmp_path / "logs", env) as stack:
        replica_b = start_server("bff", ["bff"], stack.env, free_port(), tmp_path / "logs")
        try:
            org = new_org(stack)
            user_id, email, token = _new_user(stack, org.admin_token)
            _vouched_for_by(replica_b.url, token)

            private_redis.kill()
            # A's change commits; its new generation cannot be written anywhere but A itself.
            with stack.client(org.admin_token) as admin:
                assert admin.patch(f"/api/users/{user_id}", json={"active": False}).status_code == 200
            assert _me(replica_b.url, token).status_code == 401  # B cannot read a generation: the database
            assert _me(stack.bff.url, token).status_code == 401
            assert _me(replica_b.url, org.admin_token).status_code == 200  # still served, never a 500

            # Redis back, empty: a lost generation comes back fresh, matching nothing cached before.
            private_redis.start()
            with stack.client(org.admin_token) as admin:
                assert admin.patch(f"/api/users/{user_id}", json={"active": True}).status_code == 200
            assert _me(replica_b.url, token).status_code == 401  # reactivation does not revive old tokens
            assert _me(replica_b.url, login(stack, email, TEST_PASSWORD)).status_code == 200
            assert '"auth_generations_unavailable"' in replica_b.log_text()
        finally:
            replica_b.stop()

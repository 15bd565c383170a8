"""Fixtures shared by the BFF tests: the local Redis, for limits and auth generations shared by replicas."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.bff.perimeter_support import CI

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_or_skip() -> None:
    """Redis on 127.0.0.1:6379 answers; else skip (a failure under CI=true, where it is required)."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        if CI:
            pytest.fail(f"Redis is required under CI=true but {REDIS_URL} does not answer: {exc}")
        pytest.skip(f"Redis is not running at {REDIS_URL}")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the local Redis; its keys are deleted afterwards."""
    redis_or_skip()
    prefix = f"cs-test-{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()

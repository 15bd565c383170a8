"""The token check's cache rules (``bff.auth.generations``): a cached principal is used only under
the generation it was stored with, for the same token, while young enough; generations are random,
shared through a real Redis, re-created fresh when Redis loses them, and unknown (no cache trusted)
when Redis cannot be reached. And a token is verified once per process, its expiry every time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis

from cornerstone.bff.auth.dependencies import Principal
from cornerstone.bff.auth.generations import AuthGenerations, PrincipalCache
from cornerstone.bff.auth.keys import keyring_from_env
from cornerstone.bff.auth.tokens import InvalidToken, TokenKeys, VerifiedTokens, issue_access_token
from tests.bff.conftest import REDIS_URL
from tests.support import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _principal(user_id: str = "u1", org_id: str = "o1", role: str = "gp") -> Principal:
    return Principal(user_id=user_id, org_id=org_id, role=role, email=f"{user_id}@example.test", investor_id=None)


def _get(cache: PrincipalCache, jti: str, generation: str, principal: Principal, tv: int = 0) -> Principal | None:
    return cache.get(jti, generation, user_id=principal.user_id, org_id=principal.org_id, token_version=tv)


# --- PrincipalCache --------------------------------------------------------------------------------


def test_a_cached_principal_is_used_only_under_its_own_generation() -> None:
    clock = Clock()
    cache, gp = PrincipalCache(clock=clock), _principal()
    cache.put("jti-1", "gen-a", 0, gp, clock())
    assert _get(cache, "jti-1", "gen-a", gp) == gp
    assert _get(cache, "jti-1", "gen-b", gp) is None
    # A miss drops the entry: the generation moved on, the entry can never match again.
    assert _get(cache, "jti-1", "gen-a", gp) is None
    assert len(cache) == 0


def test_a_cached_principal_is_for_that_token_user_org_and_token_version_only() -> None:
    clock = Clock()
    cache, gp = PrincipalCache(clock=clock), _principal()
    for jti in ("j1", "j2", "j3", "j4"):
        cache.put(jti, "gen", 3, gp, clock())
    assert _get(cache, "other-jti", "gen", gp, tv=3) is None
    assert cache.get("j1", "gen", user_id="someone-else", org_id=gp.org_id, token_version=3) is None
    assert cache.get("j2", "gen", user_id=gp.user_id, org_id="other-org", token_version=3) is None
    assert cache.get("j3", "gen", user_id=gp.user_id, org_id=gp.org_id, token_version=2) is None
    assert cache.get("j4", "gen", user_id=gp.user_id, org_id=gp.org_id, token_version=3) == gp


def test_an_entry_lives_at_most_max_age_from_the_generation_read() -> None:
    clock = Clock()
    cache, gp = PrincipalCache(max_age=60.0, clock=clock), _principal()
    read_at = clock()
    clock.now += 5  # the database read took a while: the age counts from before it
    cache.put("jti", "gen", 0, gp, read_at)
    clock.now = read_at + 59.9
    assert _get(cache, "jti", "gen", gp) == gp
    clock.now = read_at + 60.0
    assert _get(cache, "jti", "gen", gp) is None


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    clock = Clock()
    cache = PrincipalCache(max_entries=3, clock=clock)
    people = {name: _principal(name) for name in "abcd"}
    for name in "abc":
        cache.put(name, "gen", 0, people[name], clock())
    assert _get(cache, "a", "gen", people["a"]) == people["a"]  # a is now the most recent
    cache.put("d", "gen", 0, people["d"], clock())
    assert len(cache) == 3
    assert _get(cache, "b", "gen", people["b"]) is None  # the least recently used went
    assert [_get(cache, n, "gen", people[n]) for n in "acd"] == [people["a"], people["c"], people["d"]]


# --- AuthGenerations in one process -----------------------------------------------------------------


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        await scenario()

    asyncio.run(main())


def test_without_redis_a_generation_holds_until_bumped_and_is_random() -> None:
    async def scenario() -> None:
        generations = AuthGenerations()
        first = await generations.current("u1")
        assert first is not None
        assert len(first) == 32
        assert await generations.current("u1") == first
        assert await generations.current("u2") not in (None, first)
        await generations.bump(["u1"])
        assert await generations.current("u1") not in (None, first)

    _run(scenario)


def test_without_redis_a_forgotten_user_gets_a_fresh_generation_matching_nothing() -> None:
    async def scenario() -> None:
        generations = AuthGenerations(max_local=2)
        first = await generations.current("u1")
        await generations.current("u2")
        await generations.current("u3")  # u1 leaves the bounded dict
        assert await generations.current("u1") not in (None, first)

    _run(scenario)


# --- AuthGenerations over a real Redis --------------------------------------------------------------


def _client(url: str = REDIS_URL) -> Redis:
    return Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def _nowhere() -> Redis:
    return _client(f"redis://127.0.0.1:{free_port()}/0")


def test_replicas_share_generations_through_redis(redis_prefix: str) -> None:
    async def scenario() -> None:
        client = _client()
        replica_a = AuthGenerations(client, key_prefix=redis_prefix)
        replica_b = AuthGenerations(client, key_prefix=redis_prefix)
        seen_by_b = await replica_b.current("u1")
        assert seen_by_b is not None
        assert await replica_a.current("u1") == seen_by_b
        await replica_a.bump(["u1"])
        assert await replica_b.current("u1") not in (None, seen_by_b)
        assert 86_400 < await client.ttl(f"{redis_prefix}:authgen:u1") <= 2 * 86_400
        await client.aclose()

    _run(scenario)


def test_a_generation_redis_lost_comes_back_as_a_fresh_random_value(redis_prefix: str) -> None:
    """A restart, eviction or expiry loses the key: the next read re-creates it, never equal to the
    value an entry may have been cached under (a missing key is not a generation of its own)."""

    async def scenario() -> None:
        client = _client()
        generations = AuthGenerations(client, key_prefix=redis_prefix)
        cached_under = await generations.current("u1")
        await client.delete(f"{redis_prefix}:authgen:u1")
        fresh = await generations.current("u1")
        assert fresh not in (None, cached_under)
        assert await generations.current("u1") == fresh
        await client.aclose()

    _run(scenario)


def test_redis_unreachable_means_no_generation_and_an_empty_cache() -> None:
    async def scenario() -> None:
        unreachable = _nowhere()
        generations = AuthGenerations(unreachable, key_prefix="cs-test-down")
        generations.principals.put("jti", "gen", 0, _principal(), generations.principals.clock())
        assert await generations.current("u1") is None
        assert len(generations.principals) == 0
        # The change still lands in this process, and its write to Redis is retried later.
        await generations.bump(["u1"])
        assert generations.pending_republish() == {"u1"}
        await generations.aclose()
        await unreachable.aclose()

    _run(scenario)


def test_a_generation_that_could_not_be_written_is_written_once_redis_answers(
    redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cornerstone.bff.auth.generations.REPUBLISH_INTERVAL_SECONDS", 0.05)

    async def scenario() -> None:
        client, down = _client(), _nowhere()
        reader = AuthGenerations(client, key_prefix=redis_prefix)
        writer = AuthGenerations(down, key_prefix=redis_prefix)
        before = await reader.current("u1")
        await writer.bump(["u1"])
        assert await reader.current("u1") == before  # not written: Redis did not answer the writer
        writer.redis = client  # now it does
        for _ in range(100):
            if await reader.current("u1") != before:
                break
            await asyncio.sleep(0.02)
        assert await reader.current("u1") not in (None, before)
        assert writer.pending_republish() == set()
        await writer.aclose()
        await client.aclose()
        await down.aclose()

    _run(scenario)


# --- VerifiedTokens ------------------------------------------------------------------------------


def _keys(secret: str = "s" * 43) -> TokenKeys:
    return TokenKeys(
        issuer="cornerstone", audience="cornerstone-api", keyring=keyring_from_env(secret, []), ttl_seconds=3600
    )


def test_a_verified_token_is_answered_from_memory_until_it_expires() -> None:
    keys, clock = _keys(), Clock()
    clock.now = time.time()
    tokens = VerifiedTokens(clock=clock)
    token = issue_access_token(keys, user_id="u1", org_id="o1", role="gp", token_version=2)
    first = tokens.decode(keys, token)
    assert (first.user_id, first.org_id, first.token_version) == ("u1", "o1", 2)
    assert len(tokens) == 1
    assert tokens.decode(keys, token) is first  # from memory: the same claims object
    clock.now = first.expires_at.timestamp()  # expired by this cache's clock: verified afresh, not kept
    assert tokens.decode(keys, token) is not first
    assert len(tokens) == 0


def test_only_tokens_that_verify_are_kept_and_only_for_the_keys_that_verified_them() -> None:
    keys, other_keys = _keys(), _keys("t" * 43)
    tokens = VerifiedTokens()
    token = issue_access_token(keys, user_id="u1", org_id="o1", role="gp", token_version=0)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(InvalidToken):
        tokens.decode(keys, forged)
    assert len(tokens) == 0
    tokens.decode(keys, token)
    with pytest.raises(InvalidToken):
        tokens.decode(other_keys, token)  # another key ring verifies afresh, and refuses


def test_verified_tokens_are_bounded_least_recently_used_first() -> None:
    keys = _keys()
    tokens = VerifiedTokens(max_entries=2)
    issued = [issue_access_token(keys, user_id=f"u{n}", org_id="o1", role="gp", token_version=0) for n in range(3)]
    for token in issued:
        tokens.decode(keys, token)
    assert len(tokens) == 2

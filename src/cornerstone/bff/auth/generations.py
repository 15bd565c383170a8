"""Auth generations: a token check that skips the database while nothing about the user changed.

Every change that must take effect on a user's next request - a token revoked (sign-out), every
token ended, a role or status change, a password change - records, once its transaction has
committed, a new random *generation* for that user: in Redis when one is configured (shared by
every BFF replica) and in this process. ``authenticate`` reads the user's current generation (one
Redis round trip, or this process's dict) and reuses the principal it cached for the token only if
it was cached under that same generation; otherwise it checks the database as before and caches
the answer under the generation it read *before* that database read.

Why a cached answer is never stale (with Redis, across replicas):

- A change is committed, then its new generation written. A check that read the generation before
  that write either read the database before the commit (and cached under the old generation, which
  no longer matches once the write is done) or after it (and cached the new state). A check that
  reads the generation after the write sees a generation no entry was cached under.
- Generations are random (uuid4), never counters: a key Redis lost (restart, eviction, expiry) is
  re-created with a fresh random value by the next read (one atomic script), so it can never come back
  equal to a value an old entry was cached under.
- Redis unreachable: the check goes to the database and trusts no cached entry; the process drops
  its whole cache, since a change may have been committed while Redis could not record it.
- A generation that could not be written after a commit (Redis down at that moment) is retried in
  the background; the process that made the change drops its own cache at once; and every entry
  lives at most ``max_age`` seconds, so no replica can keep a stale answer past that bound however
  long Redis stays away.

Without Redis, the dict of one process is the whole truth: correct for one BFF process (what
``cornerstone up`` runs). Several BFF replicas must share Redis for a change made through one to
bind the next request to another at once; without it they agree within ``max_age`` seconds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.bff.auth.tokens import VerifiedTokens

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from cornerstone.bff.auth.dependencies import Principal

log = structlog.get_logger("cornerstone.bff.auth")

MAX_ENTRIES = 10_000
MAX_AGE_SECONDS = 60.0
# Longer than any access token lives (24 h by default): a key only has to outlive the entries cached
# under it (MAX_AGE_SECONDS), and one that expires anyway is re-created with a fresh random value.
GENERATION_TTL_SECONDS = 2 * 86_400
REDIS_RETRY_SECONDS = 2.0
REPUBLISH_INTERVAL_SECONDS = 1.0
_CHANGED_USERS = "cornerstone.auth.changed_users"
# A user's generation, created with the given random value when there is none (never existed, or
# lost to a restart, eviction or expiry). A script: one command, atomic, cheaper than a pipeline.
_GET_OR_CREATE = """
local value = redis.call('GET', KEYS[1])
if value then
    return value
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
"""
_REDIS_FAILURES = (RedisError, OSError, TimeoutError)


def new_generation() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class CachedPrincipal:
    generation: str
    token_version: int
    principal: Principal
    read_at: float  # monotonic time the generation was read, before the database read


class PrincipalCache:
    """Token id (``jti``) -> the principal the database vouched for, under a generation; bounded in
    entries (least recently used go first) and in age."""

    def __init__(
        self,
        max_entries: int = MAX_ENTRIES,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self.clock = clock
        self._entries: OrderedDict[str, CachedPrincipal] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, jti: str, generation: str, *, user_id: str, org_id: str, token_version: int) -> Principal | None:
        """The cached principal if it was stored under ``generation`` for this very token, and is young enough."""
        entry = self._entries.get(jti)
        if entry is None:
            return None
        principal = entry.principal
        if (
            entry.generation != generation
            or self.clock() - entry.read_at >= self.max_age
            or entry.token_version != token_version
            or principal.user_id != user_id
            or principal.org_id != org_id
        ):
            del self._entries[jti]
            return None
        self._entries.move_to_end(jti)
        return principal

    def put(self, jti: str, generation: str, token_version: int, principal: Principal, read_at: float) -> None:
        self._entries[jti] = CachedPrincipal(generation, token_version, principal, read_at)
        self._entries.move_to_end(jti)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class AuthGenerations:
    """Each user's current auth generation (Redis when given, else this process), the cache of
    principals keyed by it, and the tokens already verified. One per BFF process
    (``app.state.auth_generations``)."""

    def __init__(
        self,
        redis: Redis | None = None,
        *,
        key_prefix: str = "cornerstone",
        cache: PrincipalCache | None = None,
        max_local: int = 100_000,
    ) -> None:
        self.redis = redis
        self.key_prefix = key_prefix
        self.principals = cache or PrincipalCache()
        self.tokens = VerifiedTokens()
        self.max_local = max_local
        self._local: OrderedDict[str, str] = OrderedDict()
        self._redis_retry_at = 0.0
        self._redis_down = False
        self._republish: dict[str, float] = {}  # user id -> until when its write is retried
        self._republisher: asyncio.Task[None] | None = None
        self._get_or_create = redis.register_script(_GET_OR_CREATE) if redis is not None else None

    def _key(self, user_id: str) -> str:
        return f"{self.key_prefix}:authgen:{user_id}"

    def _local_generation(self, user_id: str) -> str:
        generation = self._local.get(user_id)
        if generation is None:
            # Unknown here (never changed, or evicted): a fresh random value, equal to nothing cached.
            generation = self._local[user_id] = new_generation()
            while len(self._local) > self.max_local:
                self._local.popitem(last=False)
        return generation

    async def current(self, user_id: str) -> str | None:
        """The user's generation now; None when it cannot be known (Redis unreachable): then no
        cached answer may be trusted."""
        get_or_create = self._get_or_create
        if get_or_create is None:
            return self._local_generation(user_id)
        if self._redis_down and time.monotonic() < self._redis_retry_at:
            return None
        try:
            # One command: the key's value, or a fresh random one set (atomically) when it has none.
            value = await get_or_create(keys=[self._key(user_id)], args=[new_generation(), GENERATION_TTL_SECONDS])
        except _REDIS_FAILURES as exc:
            self._redis_failed(exc)
            return None
        if self._redis_down:
            self._redis_down = False
            log.warning("auth_generations_recovered", backend="redis")
        if value is None:  # not what the script answers; trust nothing rather than guess
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def bump(self, user_ids: Iterable[str]) -> None:
        """Record that these users' sign-in state changed (call after the change has committed)."""
        users = set(user_ids)
        if not users:
            return
        for user_id in users:
            self._local[user_id] = new_generation()
            self._local.move_to_end(user_id)
        if self.redis is None:
            return
        try:
            await self._publish(users)
        except _REDIS_FAILURES as exc:
            # This process must not serve a stale answer either: a GET that succeeds later would
            # return the generation the failed write did not replace.
            self.principals.clear()
            self._redis_failed(exc)
            self._retry_later(users)

    async def _publish(self, users: set[str]) -> None:
        assert self.redis is not None
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id in users:
                pipe.set(self._key(user_id), new_generation(), ex=GENERATION_TTL_SECONDS)
            await pipe.execute()

    def _retry_later(self, users: set[str]) -> None:
        # Past max_age after the change, no entry cached before it survives anywhere: a write that
        # still has not gone through by then no longer protects anything, so each user is retried
        # until then.
        until = time.monotonic() + self.principals.max_age
        for user_id in users:
            self._republish[user_id] = until
        if self._republisher is None or self._republisher.done():
            self._republisher = asyncio.get_running_loop().create_task(self._republish_until_done())

    async def _republish_until_done(self) -> None:
        while self._republish:
            await asyncio.sleep(REPUBLISH_INTERVAL_SECONDS)
            now = time.monotonic()
            given_up = [user_id for user_id, until in self._republish.items() if until <= now]
            if given_up:
                log.error("auth_generations_not_republished", users=len(given_up))
                for user_id in given_up:
                    del self._republish[user_id]
            pending = dict(self._republish)
            if not pending:
                break
            try:
                await self._publish(set(pending))
            except _REDIS_FAILURES:
                continue
            for user_id, until in pending.items():
                # A change that failed again while this write was in flight keeps its own retry.
                if self._republish.get(user_id) == until:
                    del self._republish[user_id]
            log.warning("auth_generations_republished", users=len(pending))

    def _redis_failed(self, exc: BaseException) -> None:
        self.principals.clear()
        self._redis_retry_at = time.monotonic() + REDIS_RETRY_SECONDS
        if not self._redis_down:
            self._redis_down = True
            log.error(
                "auth_generations_unavailable",
                backend="redis",
                fallback="database",
                error=f"{type(exc).__name__}: {exc}",
                retry_in_seconds=REDIS_RETRY_SECONDS,
            )

    def pending_republish(self) -> set[str]:
        """Users whose new generation is still to be written to Redis."""
        return set(self._republish)

    async def aclose(self) -> None:
        if self._republisher is not None and not self._republisher.done():
            self._republisher.cancel()


def redis_client_of(store: Any) -> Redis | None:
    """The redis-py client under the rate limiter's counters (``CounterStore``), reused here rather
    than opening a second connection pool; None when the BFF has no Redis."""
    client: Redis | None = getattr(getattr(getattr(store, "redis", None), "bridge", None), "storage", None)
    return client


def note_auth_change(session: AsyncSession, user_id: str) -> None:
    """Mark, in the unit of work that changes it, that ``user_id``'s sign-in state changes; the new
    generation is published once that unit of work has committed (``publish_auth_changes``)."""
    changed: set[str] = session.info.setdefault(_CHANGED_USERS, set())
    changed.add(user_id)


async def publish_auth_changes(generations: AuthGenerations, session: AsyncSession) -> None:
    """After the commit of ``session``: new generations for every user it marked."""
    changed: set[str] = session.info.pop(_CHANGED_USERS, set())
    await generations.bump(changed)

"""Window counters in the ``limits`` library's storages: Redis when configured, else process memory.

Redis down is not a reason to stop limiting, nor to stop serving: a call that fails (refused,
timed out) switches this process to its own in-memory counters, logs an error, and tries Redis
again after ``RETRY_INTERVAL_SECONDS``; the first call that succeeds switches back and logs the
recovery; ``cornerstone_rate_limit_storage_fallback`` is 1 meanwhile. While Redis is down every
replica still enforces the full limits on its own, so a client gets at most one budget per
replica - looser, never open. (Failing closed with 503 was
the alternative; it would make a cache of counters a single point of failure for the whole API.)
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.errors import StorageError
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from cornerstone.kit.metrics import RATE_LIMIT_STORAGE_FALLBACK

log = structlog.get_logger("cornerstone.bff.ratelimit")

RETRY_INTERVAL_SECONDS = 2.0
_REDIS_FAILURES = (StorageError, RedisError, OSError, TimeoutError)


class CounterStore:
    def __init__(self, redis_url: str | None = None, *, key_prefix: str = "cornerstone", timeout: float = 0.5) -> None:
        self.memory = MemoryStorage()
        self.redis: RedisStorage | None = None
        if redis_url:
            options: dict[str, Any] = {
                "socket_timeout": timeout,
                "socket_connect_timeout": timeout,
                # One immediate retry (a connection Redis dropped while idle), never redis-py's
                # default of three with seconds of backoff: a slow limiter is worse than memory.
                "retry": Retry(NoBackoff(), retries=1),
            }
            self.redis = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix=f"{key_prefix}:ratelimit",
                wrap_exceptions=True,
                **options,
            )
        self._redis_retry_at = 0.0
        self._redis_down = False
        RATE_LIMIT_STORAGE_FALLBACK.set(0)

    @property
    def backend(self) -> str:
        """Where counters go right now: ``redis`` or ``memory``."""
        return "redis" if self.redis is not None and not self._redis_down else "memory"

    async def add(self, key: str, window: int, amount: int = 1) -> tuple[int, float]:
        """Add ``amount`` to ``key``'s counter, whose window of ``window`` seconds starts at its first
        hit; return the new count and when the window ends (epoch seconds)."""
        if self.redis is not None and (not self._redis_down or time.monotonic() >= self._redis_retry_at):
            try:
                count = await self.redis.incr(key, window, amount)
                # A count equal to the amount is a window that started just now: no need to ask its TTL.
                reset_at = time.time() + window if count == amount else await self.redis.get_expiry(key)
            except _REDIS_FAILURES as exc:
                self._redis_failed(exc)
            else:
                if self._redis_down:
                    self._redis_down = False
                    RATE_LIMIT_STORAGE_FALLBACK.set(0)
                    log.warning("rate_limit_storage_recovered", backend="redis")
                return count, reset_at
        count = await self.memory.incr(key, window, amount)
        return count, await self.memory.get_expiry(key)

    def _redis_failed(self, exc: BaseException) -> None:
        self._redis_retry_at = time.monotonic() + RETRY_INTERVAL_SECONDS
        self._redis_down = True
        RATE_LIMIT_STORAGE_FALLBACK.set(1)
        log.error(
            "rate_limit_storage_unavailable",
            backend="redis",
            fallback="memory",
            error=f"{type(exc).__name__}: {exc}",
            retry_in_seconds=RETRY_INTERVAL_SECONDS,
        )

    async def aclose(self) -> None:
        client = getattr(getattr(self.redis, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()

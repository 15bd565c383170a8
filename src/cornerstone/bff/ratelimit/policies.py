"""Rate-limit policies and decisions, and their IETF ``RateLimit-Policy`` / ``RateLimit`` fields.

Strategy: a fixed window per key that opens at the key's first hit and lasts ``window`` seconds
(the ``limits`` library's fixed window). Chosen over a moving window because one atomic
``INCR`` gives the exact count, ``t`` is then exactly when the whole quota comes back (what the
``RateLimit`` field means), and a counter can be given back (a sign-in that succeeded returns
the failure budget it reserved). The price: up to twice the quota can pass in a short burst
that straddles two windows; over any longer span the rate holds.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from limits import RateLimitItem, RateLimitItemPerSecond

from cornerstone.bff.ratelimit.storage import CounterStore
from cornerstone.kit.metrics import RATE_LIMITED


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    quota: int
    window: int
    item: RateLimitItem = field(init=False, repr=False, compare=False)
    policy_header: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "item", RateLimitItemPerSecond(self.quota, self.window))
        object.__setattr__(self, "policy_header", f'"{self.name}";q={self.quota};w={self.window}'.encode())

    def key(self, identity: str) -> str:
        return self.item.key_for(self.name, identity)


@dataclass(frozen=True, slots=True)
class Decision:
    policy: Policy
    allowed: bool
    remaining: int
    reset_after: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        state = f'"{self.policy.name}";r={self.remaining};t={self.reset_after}'.encode()
        return [(b"ratelimit-policy", self.policy.policy_header), (b"ratelimit", state)]


class RateLimiter:
    """The BFF's three budgets: requests per caller, sign-ins per client IP, failed sign-ins per account."""

    def __init__(
        self,
        store: CounterStore,
        *,
        per_minute: int,
        login_per_minute: int,
        login_failures: int,
        login_failure_window: int,
    ) -> None:
        self.store = store
        self.default = Policy("default", per_minute, 60)
        self.login = Policy("login", login_per_minute, 60)
        self.account = Policy("account", login_failures, login_failure_window)
        for policy in (self.default, self.login, self.account):
            # Each budget's 429 counter exists (at 0) from the start: a rate() over it needs no first refusal.
            RATE_LIMITED.labels(policy.name)

    async def hit(self, policy: Policy, identity: str) -> Decision:
        """Count one request of ``identity`` against ``policy``."""
        count, reset_at = await self.store.add(policy.key(identity), policy.window)
        reset_after = max(0, math.ceil(reset_at - time.time()))
        allowed = count <= policy.quota
        return Decision(policy, allowed, max(0, policy.quota - count), reset_after if allowed else max(1, reset_after))

    async def give_back(self, policy: Policy, identity: str) -> None:
        """Return one unit taken by ``hit`` (the attempt it reserved for turned out not to count)."""
        await self.store.add(policy.key(identity), policy.window, -1)

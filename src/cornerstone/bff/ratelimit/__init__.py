"""Rate limits: per user, per client IP before sign-in, per IP and per account on sign-in."""

from cornerstone.bff.ratelimit.middleware import RateLimited, RateLimitMiddleware
from cornerstone.bff.ratelimit.policies import Decision, Policy, RateLimiter
from cornerstone.bff.ratelimit.storage import CounterStore

__all__ = ["CounterStore", "Decision", "Policy", "RateLimitMiddleware", "RateLimited", "RateLimiter"]

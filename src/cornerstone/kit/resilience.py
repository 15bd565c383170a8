"""Failure safety for every outbound dependency: one circuit breaker and one retry loop.

The kernel is the first dependency; the AI provider, email backends and webhook receivers use
the same ``Resilience`` (each with a breaker of its own) when they land.

**Circuit breaker** (``CircuitBreaker``), with resilience4j's semantics: a count-based sliding
window of the last ``window_size`` calls; no decision before ``minimum_calls`` calls are in it;
it opens when the failure rate or the slow-call rate (calls slower than ``slow_call_seconds``)
reaches its threshold. Open, it refuses every call at once for ``open_seconds``; then it is
half-open and lets exactly ``half_open_calls`` probes through, and decides on their outcomes
alone: open again if their rates reach a threshold, else closed with an empty window. An outcome
is recorded only in the state (and visit of that state) its call was admitted in, so a call that
was in flight when the state changed cannot tip the new state. This is our own code, because no
Python library found keeps these semantics: pybreaker and aiobreaker count consecutive failures
(no window, no rates, no slow calls, one half-open probe), circuitbreaker likewise; purgatory has
a threshold and a TTL only.

**Retries** (``Resilience.call``): exponential backoff with full jitter (AWS's "full jitter": each
wait uniform between 0 and the doubling bound), a bounded number of attempts, and an overall
deadline that also caps each attempt's timeout - only for calls the caller marks idempotent
(reads, and money writes that carry an Idempotency-Key, which the receiver stores the outcome
under). A refusal by an open breaker is never retried: the next attempt would only be refused
again, and the point of opening is to stop calling. The loop is a few lines of our own rather
than tenacity's: tenacity's ``AsyncRetrying`` cost about 20 us on every call, the successful first
attempt included (``bench/perimeter.py``), for what is a counter, a sleep and a clock check here.

What counts as a failure is the caller's to say: its ``send`` raises ``AttemptFailed`` for a
connection error, a timeout or a 5xx. Any answer it returns (a 4xx included) is a success for the
breaker: the dependency answered.
"""

from __future__ import annotations

import asyncio
import enum
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import structlog

from cornerstone.kit.metrics import CIRCUIT_STATE, CIRCUIT_TRANSITIONS, OUTBOUND_DURATION, RETRIES
from cornerstone.kit.recent_errors import RECENT_ERRORS

log = structlog.get_logger("cornerstone.resilience")

T = TypeVar("T")


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


# The value of ``cornerstone_circuit_state`` for each state (API.md: 0 closed, 1 half-open, 2 open).
STATE_GAUGE = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    window_size: int = 20
    minimum_calls: int = 3
    failure_rate_threshold: float = 0.5  # a fraction: 0.5 opens at 50 % failures
    slow_call_rate_threshold: float = 1.0
    slow_call_seconds: float = 2.0
    open_seconds: float = 10.0
    half_open_calls: int = 2

    def __post_init__(self) -> None:
        if self.window_size < 1 or self.half_open_calls < 1:
            raise ValueError("window_size and half_open_calls must be at least 1")
        if not 1 <= self.minimum_calls <= self.window_size:
            raise ValueError("minimum_calls must be between 1 and window_size")
        for rate in (self.failure_rate_threshold, self.slow_call_rate_threshold):
            if not 0 < rate <= 1:
                raise ValueError("rate thresholds are fractions in (0, 1]")
        if self.slow_call_seconds <= 0 or self.open_seconds <= 0:
            raise ValueError("slow_call_seconds and open_seconds must be positive")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3  # in all, the first included
    backoff_seconds: float = 0.05  # the first wait is uniform in [0, this]; it doubles each time
    backoff_max_seconds: float = 1.0
    deadline_seconds: float = 5.0  # every attempt and wait of one call fits in this


class BreakerOpen(Exception):
    """The breaker refused the call without sending it; ``retry_in`` seconds until the next probe."""

    def __init__(self, dependency: str, retry_in: float) -> None:
        super().__init__(f"{dependency}: circuit open")
        self.dependency = dependency
        self.retry_in = retry_in

    @property
    def retry_after(self) -> int:
        """Whole seconds for a ``Retry-After`` header: rounded up, at least 1."""
        return max(1, math.ceil(self.retry_in))


class AttemptFailed(Exception):
    """One attempt failed the way an outage does: connection error, timeout, 5xx."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class Permit:
    """Admission of one call, tied to the state visit it was admitted in."""

    visit: int
    state: CircuitState


@dataclass(frozen=True, slots=True)
class CircuitSnapshot:
    dependency: str
    state: CircuitState
    failure_rate: float | None  # over the calls in the window; None before any call
    slow_call_rate: float | None
    calls_in_window: int
    opened_at: datetime | None  # when it last opened; None while closed
    retry_in_seconds: float | None  # while open: until the next probe is let through


class CircuitBreaker:
    """One dependency's breaker (see the module docstring). Not thread-safe: one event loop owns it,
    and nothing here awaits, so no two coroutines interleave inside a method."""

    def __init__(
        self, dependency: str, settings: BreakerSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.dependency = dependency
        self.settings = settings
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._visit = 0
        self._window: deque[tuple[bool, bool]] = deque(maxlen=settings.window_size)  # (failed, slow)
        self._probes_admitted = 0
        self._probe_outcomes: list[tuple[bool, bool]] = []
        self._opened_at: float | None = None
        self._opened_at_wall: datetime | None = None
        CIRCUIT_STATE.labels(dependency).set(STATE_GAUGE[self._state])
        # Every series of this dependency exists from the start, at zero, so a rate over it (an
        # alert, a dashboard panel) has a value before the first transition or retry.
        for state in CircuitState:
            CIRCUIT_TRANSITIONS.labels(dependency, state.value)
        RETRIES.labels(dependency)
        for outcome in ("success", "failure", "rejected"):
            OUTBOUND_DURATION.labels(dependency, outcome)

    @property
    def state(self) -> CircuitState:
        self._refresh()
        return self._state

    def acquire(self) -> Permit:
        """Admit one call, or raise ``BreakerOpen``."""
        self._refresh()
        if self._state is CircuitState.OPEN:
            raise BreakerOpen(self.dependency, self._retry_in())
        if self._state is CircuitState.HALF_OPEN:
            if self._probes_admitted >= self.settings.half_open_calls:
                # Every probe is out; the next decision comes when they return.
                raise BreakerOpen(self.dependency, 1.0)
            self._probes_admitted += 1
        return Permit(self._visit, self._state)

    def release(self, permit: Permit) -> None:
        """The admitted call was abandoned before it had an outcome (e.g. cancelled): free its probe slot."""
        if permit.visit == self._visit and permit.state is CircuitState.HALF_OPEN:
            self._probes_admitted -= 1

    def record(self, permit: Permit, *, failed: bool, seconds: float) -> None:
        """The outcome of an admitted call. Ignored if the breaker changed state since its admission."""
        if permit.visit != self._visit:
            return
        outcome = (failed, seconds >= self.settings.slow_call_seconds)
        if self._state is CircuitState.CLOSED:
            self._window.append(outcome)
            if len(self._window) >= self.settings.minimum_calls and self._over_threshold(self._window):
                self._transition(CircuitState.OPEN)
        elif self._state is CircuitState.HALF_OPEN:
            self._probe_outcomes.append(outcome)
            if len(self._probe_outcomes) >= self.settings.half_open_calls:
                over = self._over_threshold(self._probe_outcomes)
                self._transition(CircuitState.OPEN if over else CircuitState.CLOSED)

    def snapshot(self) -> CircuitSnapshot:
        self._refresh()
        outcomes = self._probe_outcomes if self._state is CircuitState.HALF_OPEN else list(self._window)
        failure_rate, slow_rate = _rates(outcomes)
        return CircuitSnapshot(
            dependency=self.dependency,
            state=self._state,
            failure_rate=failure_rate,
            slow_call_rate=slow_rate,
            calls_in_window=len(outcomes),
            opened_at=self._opened_at_wall if self._state is not CircuitState.CLOSED else None,
            retry_in_seconds=round(self._retry_in(), 3) if self._state is CircuitState.OPEN else None,
        )

    def _over_threshold(self, outcomes: deque[tuple[bool, bool]] | list[tuple[bool, bool]]) -> bool:
        failure_rate, slow_rate = _rates(outcomes)
        return (failure_rate or 0.0) >= self.settings.failure_rate_threshold or (
            slow_rate or 0.0
        ) >= self.settings.slow_call_rate_threshold

    def _retry_in(self) -> float:
        assert self._opened_at is not None
        return max(0.0, self._opened_at + self.settings.open_seconds - self._clock())

    def _refresh(self) -> None:
        """Open for ``open_seconds`` already: half-open now, ready for probes."""
        if self._state is CircuitState.OPEN and self._retry_in() <= 0:
            self._transition(CircuitState.HALF_OPEN)

    def _transition(self, to: CircuitState) -> None:
        previous = self._state
        decided_on = self._window if previous is CircuitState.CLOSED else self._probe_outcomes
        failure_rate, slow_rate = _rates(decided_on)
        self._state = to
        self._visit += 1
        self._probes_admitted = 0
        self._probe_outcomes = []
        if to is CircuitState.OPEN:
            self._opened_at = self._clock()
            self._opened_at_wall = datetime.now(UTC)
        if to is CircuitState.CLOSED:
            self._window.clear()
            self._opened_at = None
            self._opened_at_wall = None
        CIRCUIT_STATE.labels(self.dependency).set(STATE_GAUGE[to])
        CIRCUIT_TRANSITIONS.labels(self.dependency, to.value).inc()
        log.warning(
            "circuit_transition",
            dependency=self.dependency,
            from_state=previous.value,
            to_state=to.value,
            failure_rate=failure_rate,
            slow_call_rate=slow_rate,
        )


def _rates(outcomes: deque[tuple[bool, bool]] | list[tuple[bool, bool]]) -> tuple[float | None, float | None]:
    if not outcomes:
        return None, None
    count = len(outcomes)
    return (
        round(sum(1 for failed, _ in outcomes if failed) / count, 4),
        round(sum(1 for _, slow in outcomes if slow) / count, 4),
    )


class Resilience:
    """A dependency's breaker and retry policy, applied to one logical call at a time."""

    def __init__(
        self,
        dependency: str,
        breaker: BreakerSettings,
        retry: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dependency = dependency
        self.breaker = CircuitBreaker(dependency, breaker, clock=clock)
        self.retry = retry
        self._clock = clock

    async def call(self, send: Callable[[float], Awaitable[T]], *, idempotent: bool, operation: str) -> T:
        """Run ``send(budget)`` under the breaker, retrying an ``AttemptFailed`` when ``idempotent``.

        ``budget`` is what is left of the deadline: ``send`` must not wait longer. Raises
        ``BreakerOpen`` (nothing sent) or the last ``AttemptFailed``. ``operation`` names the call in
        the errors buffer and the log (e.g. the HTTP method: never a URL, which may carry ids or data;
        the buffer adds the route template of the request being served).
        """
        started = self._clock()
        attempts = self.retry.attempts if idempotent else 1
        attempt = 1
        while True:
            remaining = self.retry.deadline_seconds - (self._clock() - started)
            try:
                return await self._attempt(send, max(remaining, 0.001), operation)
            except AttemptFailed:
                if attempt >= attempts:
                    raise
                # Full jitter: uniform in [0, min(cap, base * 2^(n-1))]. No retry that could not start
                # before the deadline.
                bound = min(self.retry.backoff_max_seconds, self.retry.backoff_seconds * 2 ** (attempt - 1))
                wait = random.uniform(0, bound)  # noqa: S311 - spreading retries, not a secret
                if self._clock() - started + wait >= self.retry.deadline_seconds:
                    raise
            await asyncio.sleep(wait)
            attempt += 1
            RETRIES.labels(self.dependency).inc()

    async def _attempt(self, send: Callable[[float], Awaitable[T]], budget: float, operation: str) -> T:
        try:
            permit = self.breaker.acquire()
        except BreakerOpen:
            OUTBOUND_DURATION.labels(self.dependency, "rejected").observe(0.0)
            raise
        began = self._clock()
        try:
            result = await send(budget)
        except AttemptFailed as exc:
            seconds = self._clock() - began
            self.breaker.record(permit, failed=True, seconds=seconds)
            OUTBOUND_DURATION.labels(self.dependency, "failure").observe(seconds)
            RECENT_ERRORS.record_outbound(self.dependency, operation, status=exc.status, error=exc.reason)
            log.warning("outbound_failed", dependency=self.dependency, operation=operation, error=exc.reason)
            raise
        except BaseException:
            # Not an outcome of the dependency (our own bug, or the caller went away): forget the call.
            self.breaker.release(permit)
            raise
        seconds = self._clock() - began
        self.breaker.record(permit, failed=False, seconds=seconds)
        OUTBOUND_DURATION.labels(self.dependency, "success").observe(seconds)
        return result

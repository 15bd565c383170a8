"""The circuit breaker's state machine and the retry loop (``kit.resilience``), on a hand-driven clock."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import math
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cornerstone.kit.metrics import CIRCUIT_STATE, CIRCUIT_TRANSITIONS, OUTBOUND_DURATION, RETRIES
from cornerstone.kit.recent_errors import RECENT_ERRORS
from cornerstone.kit.resilience import (
    AttemptFailed,
    BreakerOpen,
    BreakerSettings,
    CircuitBreaker,
    CircuitState,
    Resilience,
    RetryPolicy,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


SETTINGS = BreakerSettings(
    window_size=4,
    minimum_calls=3,
    failure_rate_threshold=0.5,
    slow_call_rate_threshold=0.75,
    slow_call_seconds=1.0,
    open_seconds=10.0,
    half_open_calls=2,
)


def breaker(name: str = "test-dep", settings_: BreakerSettings = SETTINGS) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(name, settings_, clock=clock), clock


def call(b: CircuitBreaker, *, failed: bool = False, seconds: float = 0.01) -> None:
    b.record(b.acquire(), failed=failed, seconds=seconds)


def gauge(dependency: str) -> float:
    return CIRCUIT_STATE.labels(dependency)._value.get()


def transitions(dependency: str, to: str) -> float:
    return CIRCUIT_TRANSITIONS.labels(dependency, to)._value.get()


def test_no_decision_before_the_minimum_number_of_calls() -> None:
    b, _ = breaker()
    call(b, failed=True)
    call(b, failed=True)
    assert b.state is CircuitState.CLOSED  # 2 of 2 failed, but 3 calls are needed to decide
    call(b, failed=True)
    assert b.state is CircuitState.OPEN


def test_opens_at_the_failure_rate_threshold_not_below() -> None:
    b, _ = breaker()
    for failed in (False, False, True, False):  # 1 of 4 failed: 25 %
        call(b, failed=failed)
    assert b.state is CircuitState.CLOSED
    call(b, failed=True)  # the window slides: F F T F -> F T F T, 2 of 4 = 50 %
    assert b.state is CircuitState.OPEN
    snap = b.snapshot()
    assert (snap.failure_rate, snap.calls_in_window) == (0.5, 4)  # open: the window that opened it


def test_the_window_forgets_calls_older_than_its_size() -> None:
    b, _ = breaker()
    call(b, failed=True)
    for _ in range(4):
        call(b)  # the failure slides out of the 4-call window
    assert b.snapshot().failure_rate == 0.0
    assert b.snapshot().calls_in_window == 4
    call(b, failed=True)
    assert b.state is CircuitState.CLOSED  # 1 of 4


def test_slow_calls_open_it_at_their_own_threshold() -> None:
    b, _ = breaker()
    for _ in range(2):
        call(b, seconds=1.0)  # slow successes
    call(b, seconds=0.2)
    assert b.state is CircuitState.CLOSED  # 2 of 3 slow = 67 % < 75 %
    call(b, seconds=5.0)  # 3 of 4 = 75 %
    assert b.state is CircuitState.OPEN


def test_open_refuses_at_once_with_the_time_until_the_next_probe() -> None:
    b, clock = breaker("refusing-dep")
    for _ in range(3):
        call(b, failed=True)
    clock.advance(2.5)
    with pytest.raises(BreakerOpen) as refused:
        b.acquire()
    assert refused.value.retry_in == pytest.approx(7.5)
    assert refused.value.retry_after == 8  # whole seconds, rounded up
    snap = b.snapshot()
    assert snap.state is CircuitState.OPEN
    assert snap.retry_in_seconds == pytest.approx(7.5)
    assert snap.opened_at is not None
    assert gauge("refusing-dep") == 2
    clock.advance(7.4999)
    with pytest.raises(BreakerOpen) as almost:
        b.acquire()
    assert almost.value.retry_after == 1  # never 0


def test_half_open_admits_exactly_the_configured_probes_and_closes_on_their_success() -> None:
    b, clock = breaker("probing-dep")
    for _ in range(3):
        call(b, failed=True)
    clock.advance(10.0)
    assert b.state is CircuitState.HALF_OPEN
    assert gauge("probing-dep") == 1
    first, second = b.acquire(), b.acquire()
    with pytest.raises(BreakerOpen) as third:
        b.acquire()
    assert third.value.retry_after == 1
    b.record(first, failed=False, seconds=0.01)
    assert b.state is CircuitState.HALF_OPEN  # decides on both probes
    b.record(second, failed=False, seconds=0.01)
    assert b.state is CircuitState.CLOSED
    assert gauge("probing-dep") == 0
    snap = b.snapshot()
    assert (snap.calls_in_window, snap.opened_at, snap.retry_in_seconds) == (0, None, None)
    assert transitions("probing-dep", "open") == 1
    assert transitions("probing-dep", "half_open") == 1
    assert transitions("probing-dep", "closed") == 1


def test_a_failed_probe_opens_it_again_for_a_full_wait() -> None:
    b, clock = breaker()
    for _ in range(3):
        call(b, failed=True)
    clock.advance(12.0)
    probes = [b.acquire(), b.acquire()]
    b.record(probes[0], failed=False, seconds=0.01)
    b.record(probes[1], failed=True, seconds=0.01)  # 1 of 2 = 50 %: at the threshold
    assert b.state is CircuitState.OPEN
    with pytest.raises(BreakerOpen) as refused:
        b.acquire()
    assert refused.value.retry_in == pytest.approx(10.0)


def test_an_outcome_from_before_a_state_change_is_ignored() -> None:
    b, clock = breaker()
    late = b.acquire()  # admitted while closed, still in flight
    for _ in range(3):
        call(b, failed=True)
    clock.advance(10.0)
    assert b.state is CircuitState.HALF_OPEN
    b.record(late, failed=False, seconds=0.01)  # must not count as a probe
    assert b.snapshot().calls_in_window == 0
    probe = b.acquire()
    b.record(probe, failed=False, seconds=0.01)
    assert b.state is CircuitState.HALF_OPEN  # one of two probes in


def test_a_released_probe_frees_its_slot() -> None:
    b, clock = breaker()
    for _ in range(3):
        call(b, failed=True)
    clock.advance(10.0)
    first, _second = b.acquire(), b.acquire()
    b.release(first)
    b.acquire()  # the freed slot


@pytest.mark.parametrize(
    "bad",
    [
        {"window_size": 0},
        {"minimum_calls": 0},
        {"minimum_calls": 5, "window_size": 4},
        {"failure_rate_threshold": 0.0},
        {"slow_call_rate_threshold": 1.5},
        {"open_seconds": 0.0},
        {"half_open_calls": 0},
    ],
)
def test_impossible_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|fractions"):
        dataclasses.replace(SETTINGS, **bad)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=40))
def test_closed_state_opens_exactly_when_the_window_rule_first_holds(outcomes: list[tuple[bool, bool]]) -> None:
    """Against a direct reading of the rule: after each call, over the last ``window_size`` calls,
    with at least ``minimum_calls`` of them, failure rate >= 50 % or slow rate >= 75 % opens it."""
    b, _ = breaker("model-dep")
    expected_open_at = None
    for index in range(len(outcomes)):
        window = outcomes[max(0, index + 1 - SETTINGS.window_size) : index + 1]
        if len(window) >= SETTINGS.minimum_calls:
            failures = sum(f for f, _ in window) / len(window)
            slow = sum(s for _, s in window) / len(window)
            if failures >= 0.5 or slow >= 0.75:
                expected_open_at = index
                break
    for index, (failed, slow) in enumerate(outcomes):
        call(b, failed=failed, seconds=2.0 if slow else 0.01)
        should_be_open = expected_open_at is not None and index >= expected_open_at
        assert (b.state is CircuitState.OPEN) == should_be_open, (index, outcomes)
        if should_be_open:
            break


# --- the retry loop ---------------------------------------------------------------------------

FAST_RETRY = RetryPolicy(attempts=3, backoff_seconds=0.001, backoff_max_seconds=0.002, deadline_seconds=2.0)
WIDE_BREAKER = BreakerSettings(window_size=50, minimum_calls=50)


def synchronously(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test body on a fresh event loop."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


def retries(dependency: str) -> float:
    return RETRIES.labels(dependency)._value.get()


@synchronously
async def test_an_idempotent_call_is_retried_until_it_succeeds() -> None:
    resilience = Resilience("retry-ok", WIDE_BREAKER, FAST_RETRY)
    budgets: list[float] = []

    async def send(budget: float) -> str:
        budgets.append(budget)
        if len(budgets) < 3:
            raise AttemptFailed("ConnectError")
        return "answer"

    assert await resilience.call(send, idempotent=True, operation="GET") == "answer"
    assert len(budgets) == 3
    assert budgets[0] <= 2.0
    assert budgets == sorted(budgets, reverse=True)  # each attempt gets what is left of the deadline
    assert retries("retry-ok") == 2


@synchronously
async def test_a_non_idempotent_call_is_sent_once() -> None:
    resilience = Resilience("retry-never", WIDE_BREAKER, FAST_RETRY)
    sent = 0

    async def send(_budget: float) -> str:
        nonlocal sent
        sent += 1
        raise AttemptFailed("status 502", status=502)

    with pytest.raises(AttemptFailed):
        await resilience.call(send, idempotent=False, operation="POST")
    assert sent == 1
    assert retries("retry-never") == 0


@synchronously
async def test_attempts_are_bounded_and_the_last_failure_surfaces() -> None:
    resilience = Resilience("retry-exhausted", WIDE_BREAKER, FAST_RETRY)
    sent = 0

    async def send(_budget: float) -> str:
        nonlocal sent
        sent += 1
        raise AttemptFailed(f"status 50{sent}", status=500 + sent)

    with pytest.raises(AttemptFailed) as failure:
        await resilience.call(send, idempotent=True, operation="GET")
    assert sent == 3
    assert failure.value.status == 503


@synchronously
async def test_the_deadline_stops_retries_before_the_attempts_run_out() -> None:
    policy = RetryPolicy(attempts=10, backoff_seconds=0.2, backoff_max_seconds=0.2, deadline_seconds=0.3)
    resilience = Resilience("retry-deadline", WIDE_BREAKER, policy)
    sent = 0

    async def send(budget: float) -> str:
        nonlocal sent
        sent += 1
        assert budget <= 0.3
        await asyncio.sleep(0.1)
        raise AttemptFailed("ReadTimeout")

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AttemptFailed):
        await resilience.call(send, idempotent=True, operation="GET")
    assert sent < 10
    assert loop.time() - started < 1.0


@synchronously
async def test_an_open_breaker_refusal_is_never_retried_and_nothing_is_sent() -> None:
    resilience = Resilience("retry-open", BreakerSettings(window_size=2, minimum_calls=2), FAST_RETRY)
    sent = 0

    async def send(_budget: float) -> str:
        nonlocal sent
        sent += 1
        raise AttemptFailed("ConnectError")

    with pytest.raises(BreakerOpen):
        # Attempts 1 and 2 fail and open the breaker; attempt 3 is refused, and the refusal ends it.
        await resilience.call(send, idempotent=True, operation="GET")
    assert sent == 2
    rejected_before = OUTBOUND_DURATION.labels("retry-open", "rejected")._sum.get()  # observed 0.0s each
    with pytest.raises(BreakerOpen):
        await resilience.call(send, idempotent=True, operation="GET")
    assert sent == 2
    assert retries("retry-open") == 2  # attempt 2, and attempt 3 that was refused; nothing after
    assert OUTBOUND_DURATION.labels("retry-open", "rejected")._sum.get() == rejected_before


@synchronously
async def test_an_answer_is_a_success_whatever_it_says() -> None:
    """A 4xx is an answer: ``send`` returns it, so it never counts against the dependency."""
    resilience = Resilience("answers", BreakerSettings(window_size=3, minimum_calls=3), FAST_RETRY)

    async def send(_budget: float) -> int:
        return 404

    for _ in range(10):
        assert await resilience.call(send, idempotent=True, operation="GET") == 404
    assert resilience.breaker.state is CircuitState.CLOSED
    assert resilience.breaker.snapshot().failure_rate == 0.0


@synchronously
async def test_a_cancelled_call_leaves_no_outcome() -> None:
    clock = Clock()
    resilience = Resilience("cancelled", BreakerSettings(window_size=1, minimum_calls=1), FAST_RETRY, clock=clock)

    async def send(_budget: float) -> str:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await resilience.call(send, idempotent=True, operation="GET")
    assert resilience.breaker.snapshot().calls_in_window == 0


@synchronously
async def test_failed_calls_reach_the_errors_buffer_without_messages() -> None:
    RECENT_ERRORS.clear()
    resilience = Resilience("buffered", WIDE_BREAKER, RetryPolicy(attempts=1))

    async def send(_budget: float) -> str:
        raise AttemptFailed("ReadTimeout")

    with pytest.raises(AttemptFailed):
        await resilience.call(send, idempotent=True, operation="GET")
    [item] = RECENT_ERRORS.latest(10)
    assert (item.dependency, item.error, item.status, item.code) == ("buffered", "GET: ReadTimeout", None, None)
    assert not math.isnan(OUTBOUND_DURATION.labels("buffered", "failure")._sum.get())

"""The supervisor behind ``cornerstone up``: the restart backoff, and a crash loop that gives up
instead of spinning (real child processes; the restart of a real service is in tests/acceptance)."""

from __future__ import annotations

import os

import pytest

from cornerstone.ops.supervisor import Child, RestartPolicy, Supervisor


def test_the_backoff_doubles_from_the_first_delay_up_to_its_cap() -> None:
    policy = RestartPolicy(first_delay=1.0, max_delay=30.0)
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_child_that_keeps_dying_is_a_crash_loop_and_stops_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    ready: list[bool] = []
    # `cornerstone no-such-command` exits at once with a usage error: a service that cannot stay up.
    dying = Child("worker", ["no-such-command"])
    supervisor = Supervisor(
        [dying], dict(os.environ), RestartPolicy(first_delay=0.05, max_delay=0.1, max_quick_failures=2)
    )
    assert supervisor.run(lambda: ready.append(True)) == 1
    err = capsys.readouterr().err
    assert ready == [True]
    assert err.count("the worker exited with code 2") == 2
    assert "the worker is running again" in err
    assert "the worker died 3 times in a row" in err
    assert dying.process is not None
    assert dying.process.poll() is not None


def test_a_child_that_never_becomes_ready_at_start_up_fails_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    child = Child("kernel", ["no-such-command"], ready_url="http://127.0.0.1:9/readyz")
    assert Supervisor([child], dict(os.environ)).run(lambda: None) == 1
    assert "exited with code 2 before it was ready" in capsys.readouterr().err

"""``cornerstone up``: the services as child processes, kept up together and stopped together.

Children start in order, each waited on until its readiness URL answers 200 (a child without
one counts as started once spawned). If a child dies while the stack runs, ``up`` says so on
stderr and restarts it after a backoff (``RestartPolicy``: 1 s, doubling, at most 30 s; a child
that then stays up for 60 s starts again from 1 s), instead of leaving the stack half up. A child
that keeps dying, ``max_quick_failures`` times in a row each within the stable period, is a crash
loop: ``up`` stops everything and exits 1 rather than spinning.

Ctrl-C or SIGTERM stops every child (SIGTERM, then SIGKILL after a grace period) and waits for
them, so nothing is left running; a child failing to become ready at start-up does the same.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

import httpx

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2


class ChildFailed(Exception):
    pass


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 1.0
    max_delay: float = 30.0
    stable_seconds: float = 60.0  # up this long, a child's next death starts the backoff afresh
    max_quick_failures: int = 10

    def delay(self, quick_failures: int) -> float:
        """The wait before restarting a child that died after ``quick_failures`` quick deaths in a row
        (this one included, so at least 1)."""
        return float(min(self.max_delay, self.first_delay * 2 ** max(0, quick_failures - 1)))


@dataclass
class Child:
    """One service: its CLI arguments, a readiness URL (or None), and its current process."""

    name: str
    args: list[str]
    ready_url: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float = 0.0
    quick_failures: int = 0
    restart_at: float | None = None  # while waiting to be restarted


def spawn(args: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cornerstone", *args], env=dict(env))


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ChildFailed(f"{url} exited with code {process.returncode} before it was ready")
        try:
            response = httpx.get(url, timeout=1.0)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(POLL_SECONDS)
    raise ChildFailed(f"{url} was not ready within {timeout:.0f}s (last: {last})")


def stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _say(message: str) -> None:
    print(f"cornerstone: {message}", file=sys.stderr, flush=True)


class Supervisor:
    """Starts ``children`` in order and keeps them running (see the module docstring)."""

    def __init__(self, children: Sequence[Child], env: Mapping[str, str], policy: RestartPolicy | None = None) -> None:
        self.children = list(children)
        self.env = env
        self.policy = policy or RestartPolicy()
        self.stopping = False

    def _start(self, child: Child) -> None:
        child.process = spawn(child.args, self.env)
        child.started_at = time.monotonic()
        child.restart_at = None
        if child.ready_url is not None:
            wait_ready(child.ready_url, child.process)

    def _on_death(self, child: Child, code: int, now: float) -> bool:
        """Schedule ``child``'s restart; False when it is in a crash loop."""
        lived = now - child.started_at
        child.quick_failures = child.quick_failures + 1 if lived < self.policy.stable_seconds else 1
        if child.quick_failures > self.policy.max_quick_failures:
            _say(
                f"the {child.name} died {child.quick_failures} times in a row within "
                f"{self.policy.stable_seconds:.0f}s of starting; stopping"
            )
            return False
        delay = self.policy.delay(child.quick_failures)
        _say(f"the {child.name} exited with code {code} after {lived:.1f}s; restarting in {delay:.0f}s")
        child.restart_at = now + delay
        return True

    def _restart(self, child: Child) -> bool:
        """Start ``child`` again; a start that fails counts as one more death. False: a crash loop."""
        try:
            self._start(child)
        except ChildFailed as exc:
            _say(f"the {child.name} did not come back: {exc}")
            assert child.process is not None
            stop([child.process])
            return self._on_death(child, child.process.returncode, time.monotonic())
        _say(f"the {child.name} is running again")
        return True

    def run(self, on_ready: Callable[[], None]) -> int:
        try:
            for child in self.children:
                self._start(child)
            on_ready()
            while not self.stopping:
                now = time.monotonic()
                for child in self.children:
                    if child.restart_at is not None:
                        if now >= child.restart_at and not self._restart(child):
                            return 1
                        continue
                    assert child.process is not None
                    code = child.process.poll()
                    if code is not None and not self.stopping and not self._on_death(child, code, now):
                        return 1
                time.sleep(POLL_SECONDS)
            return 0
        except ChildFailed as exc:
            _say(str(exc))
            return 1
        finally:
            stop([child.process for child in self.children if child.process is not None])


def run_stack(
    *,
    env: Mapping[str, str],
    children: Sequence[Child],
    on_ready: Callable[[], None],
    policy: RestartPolicy | None = None,
) -> int:
    """Run ``children`` until SIGINT/SIGTERM (exit 0) or a failure that restarting cannot mend (exit 1)."""
    supervisor = Supervisor(children, env, policy)

    def handle(_signum: int, _frame: FrameType | None) -> None:
        supervisor.stopping = True

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return supervisor.run(on_ready)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def child_env(base: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    env.update(overrides)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env

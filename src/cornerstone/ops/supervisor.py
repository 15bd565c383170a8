"""``cornerstone up``: kernel and BFF as child processes, stopped together.

Ctrl-C or SIGTERM stops both children (SIGTERM, then SIGKILL after a grace period) and
waits for them, so nothing is left running. If either child dies, the other is stopped
and ``up`` exits non-zero.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from types import FrameType

import httpx

GRACE_SECONDS = 10.0


class ChildFailed(Exception):
    pass


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
        time.sleep(0.2)
    raise ChildFailed(f"{url} was not ready within {timeout:.0f}s (last: {last})")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
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


def run_stack(
    *,
    env: Mapping[str, str],
    kernel_args: list[str],
    bff_args: list[str],
    kernel_ready_url: str,
    bff_ready_url: str,
    on_ready: Callable[[], None],
) -> int:
    children: list[subprocess.Popen[bytes]] = []
    stopping = {"signal": 0}

    def handle(signum: int, _frame: FrameType | None) -> None:
        stopping["signal"] = signum

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        children.append(spawn(kernel_args, env))
        wait_ready(kernel_ready_url, children[0])
        children.append(spawn(bff_args, env))
        wait_ready(bff_ready_url, children[1])
        on_ready()
        while not stopping["signal"]:
            for child in children:
                if child.poll() is not None:
                    print(f"cornerstone: a service exited with code {child.returncode}; stopping", file=sys.stderr)
                    return 1
            time.sleep(0.2)
        return 0
    except ChildFailed as exc:
        print(f"cornerstone: {exc}", file=sys.stderr)
        return 1
    finally:
        stop(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def child_env(base: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    env.update(overrides)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env

"""Starting the product's own processes for a benchmark: a free port, a server that is waited on
until ``/readyz`` answers and stopped (SIGTERM, then kill) however the benchmark ends, a CLI run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not become ready:\n{log.read_text()[-3000:]}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux ``/proc/<pid>/stat``)."""
    # Fields resume after the command name's closing parenthesis; utime and stime are the 12th and 13th.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serving(args: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """Run ``args`` (a server on ``port``, output to ``log``) for the block; yields its base URL."""
    with serving_process(args, env, port, log) as (url, _):
        yield url


@contextmanager
def serving_process(
    args: list[str], env: dict[str, str], port: int, log: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """As ``serving``, yielding the process too (e.g. to read its CPU time)."""
    with log.open("ab") as handle:
        process = subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        yield url, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)

"""The campaign's repro on the demo data dir (``cornerstone demo``, SQLite): it verifies green, and both
the forged ledger amount and the deleted newest event, each invisible to the event chain alone, fail it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.support import append_only_lifted, sync_engine

FORGED_CENTS = 123_456_700


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORNERSTONE_")}
    return subprocess.run(
        [sys.executable, "-m", "cornerstone", *args, "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    for command in (("migrate",), ("demo", "--password", "demo-password-for-tests")):
        result = run_cli(*command, data_dir=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
    return tmp_path


@pytest.fixture
def kernel_engine(demo_dir: Path) -> Iterator[Engine]:
    engine = sync_engine(f"sqlite:///{demo_dir / 'kernel.sqlite3'}")
    yield engine
    engine.dispose()


def test_the_demo_verifies_green_then_a_forged_ledger_amount_and_a_deleted_last_event_fail_it(
    demo_dir: Path, kernel_engine: Engine
) -> None:
    clean = run_cli("kernel", "verify", data_dir=demo_dir)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    headline = re.search(r"ok   org (\w+): (\d+) events verified, (\d+) checkpoints, (\d+) money rows", clean.stdout)
    assert headline is not None, clean.stdout
    assert "note:" not in clean.stdout  # the seed signed its head: nothing unanchored
    events = int(headline.group(2))

    with kernel_engine.connect() as conn:
        entry = conn.execute(text("SELECT id, amount FROM ledger_entries ORDER BY id LIMIT 1")).one()
    with append_only_lifted(kernel_engine, "ledger_entries") as conn:
        conn.execute(
            text("UPDATE ledger_entries SET amount = amount + :f WHERE id = :id"), {"f": FORGED_CENTS, "id": entry.id}
        )
    with append_only_lifted(kernel_engine, "events") as conn:
        conn.execute(text("DELETE FROM events WHERE seq = :seq"), {"seq": events})

    forged = run_cli("kernel", "verify", data_dir=demo_dir)
    assert forged.returncode == 1, forged.stdout + forged.stderr
    assert f"{events - 1} events verified" in forged.stdout  # the chain alone still looks whole
    assert f"truncated events seq {events}..{events}: 1 missing" in forged.stdout
    assert f"money ledger_entries {entry.id}: amount {entry.amount + FORGED_CENTS}, but " in forged.stdout

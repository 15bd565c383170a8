"""``cornerstone up`` as an operator runs it: ready, usable, and stopped with no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support import free_port, supply_material, transition, wait_until

DEMO_PASSWORD = "acceptance-demo-password"


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces or parentheses; fields resume after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


def _command_line(pid: int) -> str:
    return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_up_serves_the_demo_and_stops_cleanly(tmp_path: Path) -> None:
    port, kernel_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CORNERSTONE_")  # the operator's defaults, not the test harness's
    }
    env["CORNERSTONE_DEMO_PASSWORD"] = DEMO_PASSWORD
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cornerstone",
            "up",
            "--data-dir",
            str(tmp_path / "var"),
            "--port",
            str(port),
            "--kernel-port",
            str(kernel_port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=1).status_code == 200, 60, "/readyz of `up`")
        children = _children_of(up.pid)
        assert len(children) == 2, children

        with httpx.Client(base_url=base, timeout=10) as client:
            login = client.post("/api/auth/token", json={"email": "gp@demo.test", "password": DEMO_PASSWORD})
            assert login.status_code == 200, login.text
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

            demo_deals = client.get("/api/deals", params={"limit": 200}).json()["items"]
            assert len(demo_deals) == 12
            assert len({deal["stage"] for deal in demo_deals}) >= 10
            # The deal in diligence shows its checklist under way; one past it, settled.
            (in_diligence,) = [d for d in demo_deals if d["stage"] == "due_diligence"]
            items = client.get(f"/api/deals/{in_diligence['id']}/checklist").json()["items"]
            statuses = [item["status"] for item in items if item["required"]]
            assert statuses.count("in_review") == 1
            assert 0 < statuses.count("done") < len(statuses)
            financing = next(d for d in demo_deals if d["stage"] == "financing")
            settled = client.get(f"/api/deals/{financing['id']}/checklist").json()["items"]
            assert all(item["status"] in ("done", "waived") for item in settled if item["required"])
            assert any(item["status"] == "waived" and item["reason"] for item in settled)
            pack = client.get(f"/api/deals/{financing['id']}/evidence-pack")
            assert pack.status_code == 200
            assert pack.headers["content-type"] == "application/zip"

            deal = client.post("/api/deals", json={"name": "Acceptance Plaza", "asset_class": "retail"}).json()
            for kind in ("rent_roll", "t12"):
                supply_material(client, deal["id"], kind, "HUMAN")
            deal = transition(client, deal, "underwriting").json()
            supply_material(client, deal["id"], "underwriting_summary", "HUMAN")
            deal = client.patch(
                f"/api/deals/{deal['id']}", json={"purchase_price": 1_500_000_000, "version": deal["version"]}
            ).json()
            deal = transition(client, deal, "ic_review").json()
            assert deal["stage"] == "ic_review"
            deal = transition(client, deal, "on_hold", reason="Waiting on the seller's rent roll").json()
            assert deal["stage"] == "on_hold"
            deal = transition(client, deal, "ic_review").json()
            assert deal["stage"] == "ic_review"

        with httpx.Client(base_url=base, timeout=10) as lp:
            login = lp.post("/api/auth/token", json={"email": "lp@demo.test", "password": DEMO_PASSWORD})
            assert login.status_code == 200, login.text
            lp.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            portfolio = lp.get("/api/portfolio")
            assert portfolio.status_code == 200, portfolio.text
            (position,) = portfolio.json()["funds"]
            # Harborview committed 20,000,000.00 of the demo fund's 40,000,000.00: half of every call.
            assert position["committed"] == 20_000_000_00
            assert position["contributed"] == 4_000_000_00 + 2_000_000_00
            assert position["unfunded"] == 14_000_000_00
            assert position["distributed"] == 600_000_00
            assert position["nav"] is not None
            assert position["nav"] > 0
            assert position["irr"] is not None
            assert lp.get("/api/funds").status_code == 403

        printed = (tmp_path / "up.log").read_text()
        assert base in printed
        assert "gp@demo.test" in printed

        # A service that dies is restarted, not left dead behind a live one: kill the kernel outright.
        kernel = next(child for child in children if f"--port {kernel_port}" in _command_line(child))
        os.kill(kernel, signal.SIGKILL)
        wait_until(lambda: "the kernel is running again" in (tmp_path / "up.log").read_text(), 60, "the restart")
        printed = (tmp_path / "up.log").read_text()
        assert "the kernel exited with code -9" in printed
        assert "restarting in 1s" in printed
        children = _children_of(up.pid)
        assert len(children) == 2, children
        assert kernel not in children
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=1).status_code == 200, 30, "/readyz after the restart")
        with httpx.Client(base_url=base, timeout=10) as client:
            login = client.post("/api/auth/token", json={"email": "gp@demo.test", "password": DEMO_PASSWORD})
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            assert client.get(f"/api/deals/{deal['id']}").json()["stage"] == "ic_review"
        assert up.poll() is None

        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=30) == 0
        wait_until(lambda: not any(_alive(child) for child in children), 15, "kernel and BFF to exit")
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        log.close()

    verify = subprocess.run(
        [sys.executable, "-m", "cornerstone", "kernel", "verify", "--data-dir", str(tmp_path / "var")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "events verified" in verify.stdout

"""The command line: clear one-line errors, non-zero exits, and what it creates."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, data_dir: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORNERSTONE_")}
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "cornerstone", *args, "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_org_create_prints_ids_and_a_generated_password_once(tmp_path: Path) -> None:
    result = run_cli("org", "create", "--name", "Acme Partners", "--admin-email", "Ops@Acme.test", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "admin ops@acme.test" in result.stdout
    assert "admin password (shown once):" in result.stdout
    assert (tmp_path / "bff.sqlite3").exists()
    assert (tmp_path / "kernel.sqlite3").exists()


def test_org_create_refuses_bad_input_with_one_line_and_nonzero_exit(tmp_path: Path) -> None:
    cases = [
        (["--name", "Acme", "--admin-email", "not-an-email"], "--admin-email"),
        (["--name", "   ", "--admin-email", "a@b.test"], "--name"),
        (["--name", "Acme", "--admin-email", "a@b.test", "--password", "short"], "--password"),
    ]
    for args, mentioned in cases:
        result = run_cli("org", "create", *args, data_dir=tmp_path)
        assert result.returncode != 0
        assert result.stderr.strip().startswith("error:"), result.stderr
        assert mentioned in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_org_create_with_a_taken_email_fails_cleanly(tmp_path: Path) -> None:
    first = run_cli("org", "create", "--name", "One", "--admin-email", "x@y.test", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    second = run_cli("org", "create", "--name", "Two", "--admin-email", "x@y.test", data_dir=tmp_path)
    assert second.returncode != 0
    assert second.stderr.startswith("error: ")
    assert "Traceback" not in second.stderr


def test_generated_secrets_are_private_files(tmp_path: Path) -> None:
    result = run_cli("demo", "--password", "demo-password-for-tests", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    from cornerstone.kit.secrets import load_or_create_secret

    value = load_or_create_secret(tmp_path, "service_key", None)
    path = tmp_path / "secrets" / "service_key"
    assert len(value) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(tmp_path, "service_key", None) == value
    assert load_or_create_secret(tmp_path, "service_key", "from-env") == "from-env"


def test_demo_refuses_to_seed_twice(tmp_path: Path) -> None:
    assert run_cli("demo", "--password", "demo-password-for-tests", data_dir=tmp_path).returncode == 0
    again = run_cli("demo", "--password", "demo-password-for-tests", data_dir=tmp_path)
    assert again.returncode == 2
    assert again.stderr == 'error: the demo org "Demo Capital" already exists in this data dir\n'


def test_kernel_verify_on_an_empty_data_dir_says_so(tmp_path: Path) -> None:
    assert run_cli("migrate", data_dir=tmp_path).returncode == 0
    result = run_cli("kernel", "verify", data_dir=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == "no events to verify"


def test_evidence_public_key_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    first = run_cli("evidence", "public-key", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert first.stdout.endswith("-----END PUBLIC KEY-----\n")
    assert run_cli("evidence", "public-key", data_dir=tmp_path).stdout == first.stdout
    assert stat.S_IMODE((tmp_path / "secrets" / "evidence_signing_key").stat().st_mode) == 0o600


def test_evidence_verify_of_a_missing_file_or_with_a_bad_key_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = run_cli("evidence", "verify", str(tmp_path / "nowhere.zip"), data_dir=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: ")
    assert len(missing.stderr.strip().splitlines()) == 1
    bad_key = tmp_path / "key.pem"
    bad_key.write_text("not a key\n")
    refused = run_cli(
        "evidence", "verify", str(tmp_path / "nowhere.zip"), "--public-key", str(bad_key), data_dir=tmp_path
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: --public-key {bad_key}")
    assert "Traceback" not in refused.stderr

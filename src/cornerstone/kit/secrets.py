"""Secrets taken from the environment, or generated once into the data dir (mode 0600)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def _random_token() -> str:
    return secrets.token_urlsafe(48)


def load_or_create_secret(
    data_dir: Path, name: str, from_env: str | None, *, generate: Callable[[], str] = _random_token
) -> str:
    """Return the secret ``name``: the env value when set, else the file in ``<data_dir>/secrets``
    (written once with ``generate()`` when it does not exist).

    The file is created with O_EXCL so two processes starting at once agree on one value.
    """
    if from_env:
        return from_env
    directory = data_dir / "secrets"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(generate())
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    # A concurrent creator may not have written yet; the value is short, so re-read briefly.
    for _ in range(100):
        value = path.read_text().strip()
        if value:
            return value
        import time

        time.sleep(0.01)
    raise RuntimeError(f"secret file {path} is empty")

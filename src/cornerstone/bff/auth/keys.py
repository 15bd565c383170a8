"""The access-token key ring: one signing key, and older keys kept for verification only.

``cornerstone keys rotate`` adds a new signing key; the previous ones still verify the
tokens they signed until those expire (one token lifetime after they were superseded),
then rotation drops them. The ring lives in ``<data_dir>/secrets/jwt_keys.json`` (0600),
or, when ``CORNERSTONE_JWT_SIGNING_KEY`` is set, comes from the environment
(``CORNERSTONE_JWT_PREVIOUS_KEYS`` lists older keys that still verify).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cornerstone.kit.clock import as_utc, isoformat_utc, utcnow

KEYS_FILE = Path("secrets") / "jwt_keys.json"


@dataclass(frozen=True, slots=True)
class SigningKey:
    secret: str
    created_at: datetime

    @property
    def kid(self) -> str:
        return hashlib.sha256(self.secret.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class KeyRing:
    keys: tuple[SigningKey, ...]  # oldest first; the last one signs

    @property
    def signing(self) -> SigningKey:
        return self.keys[-1]

    def verification_key(self, kid: str) -> str | None:
        return next((key.secret for key in self.keys if key.kid == kid), None)


def keyring_from_env(signing_key: str, previous: list[str]) -> KeyRing:
    epoch = datetime.fromtimestamp(0).astimezone()
    return KeyRing(tuple(SigningKey(secret, epoch) for secret in [*previous, signing_key]))


def _read(path: Path) -> KeyRing:
    document = json.loads(path.read_text())
    return KeyRing(
        tuple(
            SigningKey(entry["secret"], as_utc(datetime.fromisoformat(entry["created_at"].replace("Z", "+00:00"))))
            for entry in document["keys"]
        )
    )


def _write_temporary(path: Path, ring: KeyRing) -> Path:
    document = {"keys": [{"secret": k.secret, "created_at": isoformat_utc(k.created_at)} for k in ring.keys]}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle)
    return temporary


def _new_key() -> SigningKey:
    return SigningKey(secrets.token_urlsafe(48), utcnow())


def load_keyring(data_dir: Path) -> KeyRing:
    """The ring in the data dir, created with one key on first use.

    Creation writes a complete temporary file and hard-links it into place, which fails if
    the ring already exists: processes starting together agree on one ring, never half a file.
    """
    path = data_dir / KEYS_FILE
    if not path.exists():
        temporary = _write_temporary(path, KeyRing((_new_key(),)))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return _read(path)


def rotate_keyring(data_dir: Path, token_ttl_seconds: int) -> KeyRing:
    """Add a new signing key; drop keys superseded longer ago than a token lives."""
    ring = load_keyring(data_dir)
    now = utcnow()
    kept: list[SigningKey] = []
    for index, key in enumerate(ring.keys):
        successor = ring.keys[index + 1] if index + 1 < len(ring.keys) else None
        if successor is None or now - successor.created_at < timedelta(seconds=token_ttl_seconds):
            kept.append(key)
    rotated = KeyRing((*kept, _new_key()))
    os.replace(_write_temporary(data_dir / KEYS_FILE, rotated), data_dir / KEYS_FILE)
    return rotated

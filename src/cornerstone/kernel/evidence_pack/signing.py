"""The kernel's evidence-pack signing key: Ed25519, generated once into the data dir.

The private key lives in ``<data_dir>/secrets/evidence_signing_key`` (mode 0600, base64url of the
32 raw bytes), created by the same once-only routine as the other generated secrets, so every
kernel process on one data dir signs with one key. The public key is what a recipient of a pack
needs (``cornerstone evidence public-key``); its id is the SHA-256 hex of its 32 raw bytes.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cornerstone.kit.secrets import load_or_create_secret

SECRET_NAME = "evidence_signing_key"  # noqa: S105 - the file name, not a secret


def _new_private_key() -> str:
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _private_key_from(secret: str) -> Ed25519PrivateKey:
    try:
        raw = base64.urlsafe_b64decode(secret.encode("ascii"))
        return Ed25519PrivateKey.from_private_bytes(raw)
    except ValueError:
        raise ValueError(f"the evidence signing key in secrets/{SECRET_NAME} is not a base64url Ed25519 key") from None


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode("ascii")


def load_public_key_pem(pem: bytes) -> Ed25519PublicKey:
    """A PEM public key, which must be Ed25519 (``ValueError`` otherwise)."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an Ed25519 key")
    return key


@dataclass(frozen=True)
class PackSigner:
    """Signs manifests. Ed25519 signatures are deterministic: the same manifest, the same signature."""

    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


def load_or_create_signer(data_dir: Path) -> PackSigner:
    return PackSigner(_private_key_from(load_or_create_secret(data_dir, SECRET_NAME, None, generate=_new_private_key)))


def existing_public_key(data_dir: Path) -> Ed25519PublicKey | None:
    """The data dir's public key without creating one (verification must not invent a key)."""
    path = data_dir / "secrets" / SECRET_NAME
    if not path.exists():
        return None
    return _private_key_from(path.read_text().strip()).public_key()

"""Kernel settings."""

from __future__ import annotations

from pydantic import Field

from cornerstone.kit.field_crypto import FieldCipher, generate_key
from cornerstone.kit.secrets import load_or_create_secret
from cornerstone.kit.settings import CommonSettings


class KernelSettings(CommonSettings):
    kernel_host: str = Field(default="127.0.0.1", description="Interface the kernel listens on.")
    kernel_port: int = Field(default=8001, description="Port of the kernel's internal API.")
    field_encryption_key: str | None = Field(
        default=None,
        description="AES-256-GCM key(s) for investors' tax ids and bank numbers: one base64url 32-byte key, or "
        "`kid:key,kid:key` with the active key first (older keys keep decrypting); generated into the data dir "
        "when unset.",
        repr=False,
    )
    artifact_max_bytes: int = Field(
        default=25 * 1024 * 1024,
        ge=1,
        description="Largest deal artifact (uploaded file) the kernel stores, in bytes (413 above).",
    )

    def field_cipher(self) -> FieldCipher:
        secret = load_or_create_secret(
            self.data_dir, "field_encryption_key", self.field_encryption_key, generate=generate_key
        )
        return FieldCipher.from_secret(secret)

"""Kernel settings."""

from __future__ import annotations

from pydantic import Field

from cornerstone.kit.field_crypto import FieldCipher, generate_key
from cornerstone.kit.money import MoneyDateSettings
from cornerstone.kit.secrets import load_or_create_secret
from cornerstone.kit.settings import CommonSettings


class KernelSettings(CommonSettings, MoneyDateSettings):
    """The kernel's settings; the money-date window (``money_date_*``) comes with ``MoneyDateSettings``."""

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
    evidence_pack_artifact_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=0,
        description="Largest artifact whose bytes a deal's evidence pack includes; bigger ones are listed "
        "in its index (with their SHA-256) but not included.",
    )
    evidence_pack_artifacts_total_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=0,
        description="Most artifact bytes one evidence pack includes in all (oldest artifacts first); the "
        "rest are listed in its index but not included.",
    )

    def field_cipher(self) -> FieldCipher:
        secret = load_or_create_secret(
            self.data_dir, "field_encryption_key", self.field_encryption_key, generate=generate_key
        )
        return FieldCipher.from_secret(secret)

"""BFF settings."""

from __future__ import annotations

from pydantic import Field

from cornerstone.kit.secrets import load_or_create_secret
from cornerstone.kit.settings import CommonSettings


class BffSettings(CommonSettings):
    bff_host: str = Field(default="127.0.0.1", description="Interface the public API listens on.")
    bff_port: int = Field(default=8000, description="Port of the public API.")
    kernel_url: str = Field(default="http://127.0.0.1:8001", description="Base URL of the kernel.")
    kernel_connect_timeout: float = Field(default=2.0, gt=0, description="Seconds to open a kernel connection.")
    kernel_read_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for a kernel answer.")
    kernel_retry_after: int = Field(default=5, ge=1, description="Retry-After seconds on 503 KERNEL_UNAVAILABLE.")
    jwt_signing_key: str | None = Field(
        default=None,
        description="HS256 key for access tokens; generated into the data dir when unset.",
        repr=False,
    )
    jwt_issuer: str = Field(default="cornerstone", description="`iss` of access tokens.")
    jwt_audience: str = Field(default="cornerstone-api", description="`aud` of access tokens.")
    access_token_ttl_seconds: int = Field(default=86_400, gt=0, description="Access token lifetime.")

    def resolved_jwt_signing_key(self) -> str:
        return load_or_create_secret(self.data_dir, "jwt_signing_key", self.jwt_signing_key)

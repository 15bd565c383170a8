"""Settings common to every Cornerstone process (env prefix ``CORNERSTONE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cornerstone.kit.secrets import load_or_create_secret


class CommonSettings(BaseSettings):
    """What both services need: where data lives, how they log, how they trust each other."""

    model_config = SettingsConfigDict(env_prefix="CORNERSTONE_", extra="ignore")

    data_dir: Path = Field(default=Path("./var"), description="Holds the SQLite files and generated secrets.")
    log_level: str = Field(default="INFO", description="Minimum level of the JSON log lines on stdout.")
    service_key: str | None = Field(
        default=None,
        description="Shared secret the BFF signs kernel service tokens with; generated into the data dir when unset.",
        repr=False,
    )
    metrics_token: str | None = Field(
        default=None,
        description="Bearer token a Prometheus scraper presents to `/metrics`; generated into the data dir when unset.",
        repr=False,
    )
    kernel_database_url: str | None = Field(
        default=None, description="Kernel database; default sqlite file `<data_dir>/kernel.sqlite3`."
    )
    bff_database_url: str | None = Field(
        default=None, description="BFF database; default sqlite file `<data_dir>/bff.sqlite3`."
    )
    kernel_migration_database_url: str | None = Field(
        default=None,
        description="Kernel database as the role that owns its tables: migrations and operator commands; "
        "default the kernel database URL.",
    )
    bff_migration_database_url: str | None = Field(
        default=None,
        description="BFF database as the role that owns its tables: migrations and operator commands; "
        "default the BFF database URL.",
    )

    def resolved_service_key(self) -> str:
        return load_or_create_secret(self.data_dir, "service_key", self.service_key)

    def resolved_metrics_token(self) -> str:
        return load_or_create_secret(self.data_dir, "metrics_token", self.metrics_token)

    def resolved_kernel_database_url(self) -> str:
        return self.kernel_database_url or f"sqlite:///{(self.data_dir / 'kernel.sqlite3').resolve()}"

    def resolved_bff_database_url(self) -> str:
        return self.bff_database_url or f"sqlite:///{(self.data_dir / 'bff.sqlite3').resolve()}"

    def resolved_kernel_migration_database_url(self) -> str:
        return self.kernel_migration_database_url or self.resolved_kernel_database_url()

    def resolved_bff_migration_database_url(self) -> str:
        return self.bff_migration_database_url or self.resolved_bff_database_url()

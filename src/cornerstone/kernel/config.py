"""Kernel settings."""

from __future__ import annotations

from pydantic import Field

from cornerstone.kit.settings import CommonSettings


class KernelSettings(CommonSettings):
    kernel_host: str = Field(default="127.0.0.1", description="Interface the kernel listens on.")
    kernel_port: int = Field(default=8001, description="Port of the kernel's internal API.")

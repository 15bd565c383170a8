"""BFF settings."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from cornerstone.bff.auth.keys import KeyRing, keyring_from_env, load_keyring
from cornerstone.kit.resilience import BreakerSettings, RetryPolicy
from cornerstone.kit.settings import CommonSettings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _comma_separated(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class BffSettings(CommonSettings):
    bff_host: str = Field(default="127.0.0.1", description="Interface the public API listens on.")
    bff_port: int = Field(default=8000, description="Port of the public API.")
    kernel_url: str = Field(default="http://127.0.0.1:8001", description="Base URL of the kernel.")
    sweep_interval_seconds: float = Field(
        default=300.0, gt=0, description="Seconds between sweeps of expired revoked tokens and idempotency records."
    )
    idempotency_lease_seconds: float = Field(
        default=5.0,
        ge=1,
        le=300,
        description="Seconds a money POST's claim on its Idempotency-Key lasts unless renewed; renewed every third "
        "of it while the request runs, so a claim whose process died frees its key within this long.",
    )
    kernel_connect_timeout: float = Field(default=2.0, gt=0, description="Seconds to open a kernel connection.")
    kernel_read_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for a kernel answer.")
    kernel_retry_after: int = Field(
        default=5, ge=1, description="Retry-After seconds on 503 KERNEL_UNAVAILABLE when the breaker is not open."
    )
    kernel_deadline_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Overall seconds for one kernel call, every retry and wait included; caps each attempt's "
        "timeout. Default: the read timeout, so a hung kernel costs a caller one read timeout, not several.",
    )
    kernel_retry_attempts: int = Field(
        default=3, ge=1, le=10, description="Attempts in all for an idempotent kernel call (reads, keyed money writes)."
    )
    kernel_retry_backoff_seconds: float = Field(
        default=0.05, gt=0, description="First retry waits a random time up to this; the bound doubles each retry."
    )
    kernel_retry_backoff_max_seconds: float = Field(default=1.0, gt=0, description="Largest bound of one retry wait.")
    kernel_breaker_window_size: int = Field(
        default=20, ge=1, description="Kernel circuit breaker: calls in its sliding window."
    )
    kernel_breaker_minimum_calls: int = Field(
        default=3, ge=1, description="Kernel circuit breaker: calls in the window before it may open."
    )
    kernel_breaker_failure_rate: float = Field(
        default=50.0, gt=0, le=100, description="Kernel circuit breaker: percent of failed calls that opens it."
    )
    kernel_breaker_slow_call_rate: float = Field(
        default=100.0, gt=0, le=100, description="Kernel circuit breaker: percent of slow calls that opens it."
    )
    kernel_breaker_slow_call_seconds: float = Field(
        default=2.0, gt=0, description="Kernel circuit breaker: a call at least this long is slow."
    )
    kernel_breaker_open_seconds: float = Field(
        default=10.0, gt=0, description="Kernel circuit breaker: seconds open before probes are let through."
    )
    kernel_breaker_half_open_calls: int = Field(
        default=2, ge=1, description="Kernel circuit breaker: probes let through when half-open; it decides on them."
    )
    jwt_signing_key: str | None = Field(
        default=None,
        description="HS256 key that signs access tokens; when unset, the key ring in the data dir is used.",
        repr=False,
    )
    jwt_previous_keys: str | None = Field(
        default=None,
        description="With CORNERSTONE_JWT_SIGNING_KEY: comma-separated older keys that still verify tokens.",
        repr=False,
    )
    jwt_issuer: str = Field(default="cornerstone", description="`iss` of access tokens.")
    jwt_audience: str = Field(default="cornerstone-api", description="`aud` of access tokens.")
    access_token_ttl_seconds: int = Field(default=86_400, gt=0, description="Access token lifetime.")

    # --- the perimeter: rate limits -------------------------------------------------------------
    rate_limit_per_minute: int = Field(
        default=100, ge=1, description="Requests a minute per signed-in user (per client IP before sign-in)."
    )
    login_rate_limit_per_minute: int = Field(
        default=10, ge=1, description="Sign-in attempts (`POST /api/auth/token`) a minute per client IP."
    )
    login_failures_per_account: int = Field(
        default=5, ge=1, description="Failed sign-ins per email within the failure window before it is throttled."
    )
    login_failure_window_seconds: int = Field(
        default=900, ge=1, description="Window of the per-account failed sign-in budget."
    )
    redis_url: str | None = Field(
        default=None,
        description="`redis://host:port/db`: share rate-limit counters between replicas; in-process memory when unset.",
        repr=False,
    )
    redis_key_prefix: str = Field(
        default="cornerstone", min_length=1, description="Prefix of every rate-limit key written to Redis."
    )
    redis_timeout_seconds: float = Field(
        default=0.5, gt=0, description="Connect and read timeout of one Redis call before falling back to memory."
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated IPs/CIDRs of reverse proxies whose `X-Forwarded-For` is believed.",
    )

    # --- the perimeter: request hygiene ----------------------------------------------------------
    max_body_bytes: int = Field(default=1_048_576, ge=1, description="Largest request body accepted (413 above).")
    max_json_depth: int = Field(default=32, ge=1, description="Deepest nesting of arrays/objects in a JSON body.")
    max_json_keys: int = Field(default=1000, ge=1, description="Most object keys, in total, in a JSON body.")
    artifact_max_bytes: int = Field(
        default=25 * 1024 * 1024,
        ge=1,
        description="Largest deal artifact upload, in bytes (413 above); only the upload route's body may exceed "
        "CORNERSTONE_MAX_BODY_BYTES, by this much plus the multipart framing.",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated origins (`https://app.example.com`) allowed cross-origin; none when empty.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for item in _comma_separated(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or CIDR: {item!r}") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _valid_origins(cls, value: str) -> str:
        for item in _comma_separated(value):
            parts = urlsplit(item)
            if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path not in {"", "/"}:
                raise ValueError(f"not an origin (scheme://host[:port]): {item!r}")
            if parts.query or parts.fragment or parts.username or parts.password:
                raise ValueError(f"not an origin (scheme://host[:port]): {item!r}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _valid_redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("CORNERSTONE_REDIS_URL must be redis://, rediss:// or unix://")
        return value or None

    @model_validator(mode="after")
    def _breaker_minimum_fits_window(self) -> BffSettings:
        if self.kernel_breaker_minimum_calls > self.kernel_breaker_window_size:
            raise ValueError("CORNERSTONE_KERNEL_BREAKER_MINIMUM_CALLS must not exceed the window size")
        return self

    def kernel_breaker(self) -> BreakerSettings:
        return BreakerSettings(
            window_size=self.kernel_breaker_window_size,
            minimum_calls=self.kernel_breaker_minimum_calls,
            failure_rate_threshold=self.kernel_breaker_failure_rate / 100,
            slow_call_rate_threshold=self.kernel_breaker_slow_call_rate / 100,
            slow_call_seconds=self.kernel_breaker_slow_call_seconds,
            open_seconds=self.kernel_breaker_open_seconds,
            half_open_calls=self.kernel_breaker_half_open_calls,
        )

    def kernel_retry(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.kernel_retry_attempts,
            backoff_seconds=self.kernel_retry_backoff_seconds,
            backoff_max_seconds=self.kernel_retry_backoff_max_seconds,
            deadline_seconds=self.kernel_deadline_seconds or self.kernel_read_timeout,
        )

    def token_keyring(self) -> KeyRing:
        if self.jwt_signing_key:
            return keyring_from_env(self.jwt_signing_key, _comma_separated(self.jwt_previous_keys or ""))
        return load_keyring(self.data_dir)

    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(item, strict=False) for item in _comma_separated(self.trusted_proxies))

    def allowed_origins(self) -> frozenset[str]:
        """The allow-list, normalised as browsers send ``Origin``: lower-case, no trailing slash."""
        return frozenset(item.lower().rstrip("/") for item in _comma_separated(self.cors_origins))

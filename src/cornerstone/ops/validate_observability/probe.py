"""What every check shares: the target, the two HTTP clients, the tokens, and the answers several
checks read, each fetched once per run (a failure included, so a hung service costs one timeout,
not one per check)."""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cornerstone.ops.validate_observability.report import CheckFailed, Skipped, Verdict

DEFAULT_KERNEL_URL = "http://127.0.0.1:8001"
DEFAULT_TIMEOUT_SECONDS = 10.0
PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_KEYS = ("type", "title", "status", "detail", "code", "request_id")


@dataclass(frozen=True)
class Credentials:
    """A token, or an email and password to sign in with."""

    token: str | None = field(default=None, repr=False)
    email: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def given(self) -> bool:
        return bool(self.token or self.email)


@dataclass(frozen=True)
class Target:
    """The running system and what the operator gave to look inside it."""

    bff_url: str
    kernel_url: str = DEFAULT_KERNEL_URL
    metrics_token: str | None = field(default=None, repr=False)
    admin: Credentials = field(default_factory=Credentials)
    user: Credentials = field(default_factory=Credentials)
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def known_secrets(self) -> list[str]:
        """Values that must appear in no answer of the debug endpoints (short ones would match by chance)."""
        values = [self.metrics_token, self.admin.token, self.admin.password, self.user.token, self.user.password]
        return [value for value in values if value and len(value) >= 8]


T = TypeVar("T")


@dataclass
class Scrape:
    text: str
    samples: list[tuple[str, dict[str, str], float]]  # (sample name, labels, value)


class Probe:
    """What the checks share: the two HTTP clients, the tokens, and the answers fetched once."""

    def __init__(self, target: Target, bff: httpx.Client, kernel: httpx.Client) -> None:
        self.target = target
        self.bff = bff
        self.kernel = kernel
        # A path no route has, with an id-shaped segment: it must come back as a 404 problem and
        # never show up as a metrics label.
        self.marker = secrets.token_hex(8)
        self.unknown_path = f"/api/observability-check-{self.marker}/{uuid.uuid4().hex}"
        self._memo: dict[str, Any] = {}

    def memo(self, key: str, produce: Callable[[], T]) -> T:
        """``produce()`` once per run; a failure is remembered and raised again to every later asker."""
        if key not in self._memo:
            try:
                self._memo[key] = produce()
            except Exception as exc:  # noqa: BLE001 - remembered, re-raised below
                self._memo[key] = exc
        value = self._memo[key]
        if isinstance(value, Exception):
            raise value
        return value  # type: ignore[no-any-return]

    # Tokens ---------------------------------------------------------------------------------------

    def admin_token(self) -> str:
        return self.memo("admin_token", lambda: self._token(self.target.admin, "admin"))

    def user_token(self) -> str:
        if not self.target.user.given:
            raise Skipped("no non-admin user given (--user-token, or --user-email and its password)")
        return self.memo("user_token", lambda: self._token(self.target.user, "user"))

    def _token(self, credentials: Credentials, who: str) -> str:
        if credentials.token:
            return credentials.token
        if not credentials.email:
            raise CheckFailed(f"no {who} credentials given")
        if not credentials.password:
            raise CheckFailed(f"no password for the {who} email")
        answer = self.bff.post("/api/auth/token", json={"email": credentials.email, "password": credentials.password})
        if answer.status_code != 200:
            raise CheckFailed(f"{who} sign-in refused: {answer.status_code} {problem_code(answer)}")
        token = json_body(answer).get("access_token")
        if not isinstance(token, str) or not token:
            raise CheckFailed(f"{who} sign-in answered 200 without an access_token")
        return token

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # Answers several checks read -----------------------------------------------------------------

    def healthz(self) -> httpx.Response:
        return self.memo("healthz", lambda: self.bff.get("/healthz"))

    def api_answer(self) -> httpx.Response:
        """``GET /api/me`` as the admin: an authenticated API answer."""
        return self.memo("api_answer", lambda: self.bff.get("/api/me", headers=self.bearer(self.admin_token())))

    def problem_answer(self) -> httpx.Response:
        """An unknown ``/api`` path as the admin: a 404 problem."""
        return self.memo(
            "problem_answer", lambda: self.bff.get(self.unknown_path, headers=self.bearer(self.admin_token()))
        )

    def header_samples(self) -> list[tuple[str, httpx.Response]]:
        return [
            ("an API answer", self.api_answer()),
            ("a problem", self.problem_answer()),
            ("/healthz", self.healthz()),
        ]

    def scrape(self, service: str) -> Scrape:
        """The service's ``/metrics``, read once per run (after this run's unknown path was requested,
        which no route label may show)."""

        def produce() -> Scrape:
            with contextlib.suppress(Exception):
                self.problem_answer()
            return self.fresh_scrape(service)

        return self.memo(f"scrape:{service}", produce)

    def fresh_scrape(self, service: str) -> Scrape:
        token = self.target.metrics_token
        if not token:
            raise CheckFailed("no metrics token: pass --metrics-token, or --data-dir of the running services")
        client = self.bff if service == "bff" else self.kernel
        answer = client.get("/metrics", headers=self.bearer(token))
        if answer.status_code != 200:
            raise CheckFailed(f"{service} /metrics with the metrics token answered {answer.status_code}")
        return parse_scrape(answer.text)

    def debug(self, path: str) -> httpx.Response:
        return self.memo(f"debug:{path}", lambda: self.bff.get(path, headers=self.bearer(self.admin_token())))


def parse_scrape(text: str) -> Scrape:
    """Prometheus text as (sample, labels, value) rows; a scrape the parser refuses is a failure."""
    try:
        samples = [
            (sample.name, dict(sample.labels), float(sample.value))
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]
    except ValueError as exc:
        raise CheckFailed(f"the scrape is not valid Prometheus text ({first_line(exc)})") from None
    return Scrape(text, samples)


def json_body(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def problem_code(answer: httpx.Response) -> str:
    code = json_body(answer).get("code")
    return str(code) if code else ""


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def media_type(answer: httpx.Response) -> str:
    return str(answer.headers.get("content-type", "")).split(";")[0].strip().lower()


def problem_defects(answer: httpx.Response, status: int) -> list[str]:
    """What keeps ``answer`` from being API.md's problem with ``status`` (empty: nothing)."""
    defects = []
    if answer.status_code != status:
        defects.append(f"status {answer.status_code}, not {status}")
    if media_type(answer) != PROBLEM_MEDIA_TYPE:
        defects.append(f"content-type {media_type(answer) or 'absent'}, not {PROBLEM_MEDIA_TYPE}")
    body = json_body(answer)
    missing = [key for key in PROBLEM_KEYS if key not in body]
    if missing:
        defects.append("body lacks " + ", ".join(missing))
    elif body.get("status") != answer.status_code:
        defects.append(f"body status {body.get('status')!r} differs from the answer's")
    return defects


CheckFunction = Callable[[Probe], Verdict]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    run: CheckFunction

"""``cornerstone validate observability``: named checks of a running BFF and kernel, over HTTP only.

Each check is a small function that tests one property of the contract (API.md: the cross-cutting
rules and "Observability and failure safety") against the live services and answers pass or fail
with a one-line reason; ``CHECKS`` lists them in the order they run: ``http_checks`` (health,
problems, security headers, rate-limit fields, request ids, trace context), ``metrics_checks``
(``/metrics`` of both services) and ``debug_checks`` (``/api/debug/*``). The checks share one
``probe.Probe``, which signs in once and fetches each answer several checks look at only once (an
exception included, so a hung service costs one timeout, not one per check); ``report`` holds the
verdicts and prints them.

What the run does to the system: reads, a sign-in when an email is given instead of a token, and
one refused ``POST /api/deals`` (a bad body, 422, nothing created; audited as a refused attempt).
Every request has a timeout. Nothing secret is ever put in a reason: a token, a password or a
suspicious value found in ``/api/debug/errors`` is named by kind, never shown.

A check that needs something the operator did not give (the refusals of a non-admin need a
non-admin's token or credentials) is *skipped*: reported with ``passed`` null, counted apart from
the passes, and it does not fail the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx

from cornerstone.ops.validate_observability.debug_checks import DEBUG_CHECKS
from cornerstone.ops.validate_observability.http_checks import HTTP_CHECKS
from cornerstone.ops.validate_observability.metrics_checks import METRICS_CHECKS
from cornerstone.ops.validate_observability.probe import Check, Credentials, Probe, Target, first_line
from cornerstone.ops.validate_observability.report import CheckFailed, CheckResult, Report, Skipped, render

__all__ = [
    "CHECKS",
    "Credentials",
    "Report",
    "Target",
    "Unreachable",
    "UsageError",
    "render",
    "target_from_options",
    "validate",
]

# Every check, in the order a run goes through them.
CHECKS: tuple[Check, ...] = (*HTTP_CHECKS, *METRICS_CHECKS, *DEBUG_CHECKS)


class Unreachable(Exception):
    """The BFF does not answer at all: no check can say anything useful."""


def run_check(check: Check, probe: Probe) -> CheckResult:
    """One check's result; whatever goes wrong inside it is that check's failure, never a crash."""
    try:
        verdict = check.run(probe)
    except Skipped as exc:
        return CheckResult(check.name, None, str(exc))
    except CheckFailed as exc:
        return CheckResult(check.name, False, str(exc))
    except httpx.TimeoutException as exc:
        return CheckResult(check.name, False, f"no answer within {probe.target.timeout:g} s ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return CheckResult(check.name, False, f"request failed: {type(exc).__name__}: {first_line(exc)}")
    except Exception as exc:  # noqa: BLE001 - a broken answer fails this check; the run goes on
        return CheckResult(check.name, False, f"unexpected answer ({type(exc).__name__}: {first_line(exc)})")
    return CheckResult(check.name, verdict.passed, verdict.detail)


def validate(
    target: Target,
    checks: Sequence[Check] = CHECKS,
    *,
    transport: httpx.BaseTransport | None = None,
    kernel_transport: httpx.BaseTransport | None = None,
) -> Report:
    """Run ``checks`` against ``target``; raises ``Unreachable`` when the BFF does not answer ``/healthz``."""
    with (
        _client(target.bff_url, target.timeout, transport) as bff,
        _client(target.kernel_url, target.timeout, kernel_transport) as kernel,
    ):
        try:
            bff.get("/healthz")
        except httpx.TransportError as exc:
            raise Unreachable(f"the BFF at {target.bff_url} does not answer ({type(exc).__name__})") from None
        probe = Probe(target, bff, kernel)
        return Report(tuple(run_check(check, probe) for check in checks))


def _client(base_url: str, timeout: float, transport: httpx.BaseTransport | None) -> httpx.Client:
    return httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, follow_redirects=False, transport=transport)


class UsageError(Exception):
    """What the operator gave cannot make a run."""


def target_from_options(
    *, url: str, kernel_url: str, metrics_token: str | None, admin: Credentials, user: Credentials, timeout: float
) -> Target:
    """The command line's options as a ``Target``; the metrics token defaults to the services' own
    (``CORNERSTONE_METRICS_TOKEN``, else the data dir's file)."""
    from cornerstone.kit.settings import CommonSettings

    if not url.startswith(("http://", "https://")) or not kernel_url.startswith(("http://", "https://")):
        raise UsageError("--url and --kernel-url must be http:// or https:// URLs")
    if not admin.given or (admin.email and not admin.token and not admin.password):
        raise UsageError(
            "give an admin: --admin-token, or --admin-email with --admin-password "
            "(or CORNERSTONE_VALIDATE_ADMIN_PASSWORD)"
        )
    if user.email and not user.token and not user.password:
        raise UsageError("--user-email needs --user-password (or CORNERSTONE_VALIDATE_USER_PASSWORD)")
    if not timeout > 0:
        raise UsageError("--timeout must be more than 0 seconds")
    if metrics_token is None:
        settings = CommonSettings()
        metrics_token = read_metrics_token(settings.data_dir, settings.metrics_token)
    return Target(url, kernel_url, metrics_token, admin, user, timeout)


def read_metrics_token(data_dir: Path, from_env: str | None) -> str | None:
    """The token the services use: the environment's, else ``<data_dir>/secrets/metrics_token``.

    Unlike the services, nothing is generated when the file is missing: a new token would match no
    running service.
    """
    if from_env:
        return from_env
    path = data_dir / "secrets" / "metrics_token"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None

"""Checks of ``/metrics`` on both services (API.md, "Observability and failure safety"): the token
is required, every metric family is exported, ``route`` labels are templates, nothing secret shows."""

from __future__ import annotations

import re
import secrets

from cornerstone.kit.metrics import FAMILIES
from cornerstone.ops.validate_observability.debug_checks import secret_findings
from cornerstone.ops.validate_observability.probe import (
    Check,
    CheckFunction,
    Probe,
    Scrape,
    media_type,
    parse_scrape,
    problem_code,
    problem_defects,
)
from cornerstone.ops.validate_observability.report import Verdict, fail, ok

# Prometheus text exposition, or OpenMetrics when a scraper negotiates it.
PROMETHEUS_MEDIA_TYPES = ("text/plain", "application/openmetrics-text")
PROCESS_METRICS = ("process_cpu_seconds_total", "process_resident_memory_bytes")
KERNEL_HTTP_FAMILIES = ("cornerstone_http_requests_total", "cornerstone_http_request_duration_seconds")
HEX_ID_SEGMENT = re.compile(r"(^|/)[0-9a-fA-F]{32}(/|$)")
UUID_SEGMENT = re.compile(r"(^|/)[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(/|$)")


def _metrics_refusal(service: str, token: str | None) -> CheckFunction:
    def check(probe: Probe) -> Verdict:
        client = probe.bff if service == "bff" else probe.kernel
        headers = probe.bearer(token) if token else {}
        defects = problem_defects(client.get("/metrics", headers=headers), 401)
        what = "a wrong token" if token else "no token"
        return fail("; ".join(defects)) if defects else ok(f"401 problem with {what}")

    return check


def _metrics_scrape(service: str) -> CheckFunction:
    def check(probe: Probe) -> Verdict:
        token = probe.target.metrics_token
        if not token:
            return fail("no metrics token: pass --metrics-token, or --data-dir of the running services")
        client = probe.bff if service == "bff" else probe.kernel
        answer = client.get("/metrics", headers=probe.bearer(token))
        if answer.status_code != 200:
            return fail(f"answered {answer.status_code} {problem_code(answer)} with the metrics token")
        if media_type(answer) not in PROMETHEUS_MEDIA_TYPES:
            return fail(f"content-type {answer.headers.get('content-type')!r}")
        parse_scrape(answer.text)
        return ok(f"200 {answer.headers.get('content-type')}")

    return check


def _family_present(service: str, family: str) -> CheckFunction:
    def check(probe: Probe) -> Verdict:
        text = probe.scrape(service).text
        help_line = re.search(rf"^# HELP {re.escape(family)} ", text, re.MULTILINE)
        type_line = re.search(rf"^# TYPE {re.escape(family)} (\w+)", text, re.MULTILINE)
        if help_line is None or type_line is None:
            absent = " and ".join(what for what, line in (("HELP", help_line), ("TYPE", type_line)) if line is None)
            return fail(f"no {absent} line for {family} in the {service} scrape")
        return ok(f"{type_line.group(1)}")

    return check


def route_label_defect(route: str, marker: str) -> str | None:
    """Why a ``route`` label value is not a template, or None."""
    if "?" in route:
        return "has a query string"
    if marker in route:
        return "is a raw path this run requested"
    if HEX_ID_SEGMENT.search(route) or UUID_SEGMENT.search(route):
        return "has an id segment"
    return None


def _route_labels_are_templates(service: str) -> CheckFunction:
    def check(probe: Probe) -> Verdict:
        routes = {labels["route"] for _, labels, _ in probe.scrape(service).samples if "route" in labels}
        bad = sorted(
            f"{route[:80]!r} {defect}" for route in routes if (defect := route_label_defect(route, probe.marker))
        )
        if bad:
            return fail(f"{len(bad)} route label(s) are not templates: " + "; ".join(bad[:3]))
        if not routes:
            return fail("no route label at all")
        return ok(f"{len(routes)} route labels, all templates")

    return check


def _process_metrics(service: str) -> CheckFunction:
    def check(probe: Probe) -> Verdict:
        names = {name for name, _, _ in probe.scrape(service).samples}
        absent = [name for name in PROCESS_METRICS if name not in names]
        return fail("absent: " + ", ".join(absent)) if absent else ok(", ".join(PROCESS_METRICS))

    return check


def _requests_counted(service: str, route: str) -> CheckFunction:
    def check(probe: Probe) -> Verdict:
        client = probe.bff if service == "bff" else probe.kernel
        before = _request_count(probe.fresh_scrape(service), service, route)
        client.get(route)
        after = _request_count(probe.fresh_scrape(service), service, route)
        series = f'cornerstone_http_requests_total{{service="{service}",route="{route}"}}'
        if after < before + 1:
            return fail(f"{series} went from {before:g} to {after:g} over a request to {route}")
        return ok(f"{series} went from {before:g} to {after:g}")

    return check


def _request_count(scrape: Scrape, service: str, route: str) -> float:
    return sum(
        value
        for name, labels, value in scrape.samples
        if name == "cornerstone_http_requests_total"
        and labels.get("route") == route
        and labels.get("service") == service
    )


def scrape_has_no_secrets(probe: Probe) -> Verdict:
    leaks = [
        f"{service}: {what}"
        for service in ("bff", "kernel")
        for what in secret_findings(probe.scrape(service).text, probe.target.known_secrets(), shapes=())
    ]
    return fail("the scrape shows " + "; ".join(leaks)) if leaks else ok("no token or password in either scrape")


def _checks() -> list[Check]:
    checks: list[Check] = []
    for service in ("bff", "kernel"):
        checks += [
            Check(f"metrics.{service}_no_token_401", _metrics_refusal(service, None)),
            Check(f"metrics.{service}_wrong_token_401", _metrics_refusal(service, f"wrong-{secrets.token_hex(16)}")),
            Check(f"metrics.{service}_scrape_200", _metrics_scrape(service)),
        ]
    # One check per family: a missing one is named in the report.
    checks += [Check(f"metrics.bff_family.{family}", _family_present("bff", family)) for family in FAMILIES]
    checks += [
        Check(f"metrics.kernel_family.{family}", _family_present("kernel", family)) for family in KERNEL_HTTP_FAMILIES
    ]
    return [
        *checks,
        Check("metrics.bff_requests_counted", _requests_counted("bff", "/healthz")),
        Check("metrics.kernel_requests_counted", _requests_counted("kernel", "/healthz")),
        Check("metrics.bff_route_labels_templates", _route_labels_are_templates("bff")),
        Check("metrics.kernel_route_labels_templates", _route_labels_are_templates("kernel")),
        Check("metrics.bff_process_metrics", _process_metrics("bff")),
        Check("metrics.kernel_process_metrics", _process_metrics("kernel")),
        Check("metrics.no_secrets_in_scrape", scrape_has_no_secrets),
    ]


METRICS_CHECKS: tuple[Check, ...] = tuple(_checks())

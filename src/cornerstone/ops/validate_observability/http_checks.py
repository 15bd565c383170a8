"""Checks of every answer's contract (API.md, cross-cutting rules): health, problems, security
headers, rate-limit fields, request ids and trace context."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

import httpx

from cornerstone.ops.validate_observability.probe import (
    PROBLEM_KEYS,
    PROBLEM_MEDIA_TYPE,
    Check,
    CheckFunction,
    Probe,
    json_body,
    problem_code,
    problem_defects,
)
from cornerstone.ops.validate_observability.report import Verdict, fail, ok

REQUEST_ID_SHAPE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
TRACEPARENT_SHAPE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
RATE_LIMIT_POLICY_SHAPE = re.compile(r'^"([^"]+)";q=(\d+);w=(\d+)')
RATE_LIMIT_SHAPE = re.compile(r'^"([^"]+)";r=(\d+);t=(\d+)')


# Health


def bff_healthz(probe: Probe) -> Verdict:
    answer = probe.healthz()
    return ok("200") if answer.status_code == 200 else fail(f"answered {answer.status_code}")


def bff_readyz(probe: Probe) -> Verdict:
    answer = probe.bff.get("/readyz")
    body = json_body(answer)
    if answer.status_code != 200:
        return fail(f"answered {answer.status_code}: database {body.get('database')}, kernel {body.get('kernel')}")
    if body.get("database") != "up" or body.get("kernel") != "up":
        return fail(f"200 but database {body.get('database')!r}, kernel {body.get('kernel')!r}")
    return ok("200: database up, kernel up")


def kernel_healthz(probe: Probe) -> Verdict:
    answer = probe.kernel.get("/healthz")
    return ok("200") if answer.status_code == 200 else fail(f"answered {answer.status_code}")


def kernel_readyz(probe: Probe) -> Verdict:
    answer = probe.kernel.get("/readyz")
    body = json_body(answer)
    if answer.status_code != 200 or body.get("database") != "up":
        return fail(f"answered {answer.status_code}, database {body.get('database')!r}")
    return ok("200: database up")


# Auth and problems


def admin_signed_in(probe: Probe) -> Verdict:
    answer = probe.api_answer()
    if answer.status_code != 200:
        return fail(f"GET /api/me with the admin token answered {answer.status_code} {problem_code(answer)}")
    role = json_body(answer).get("role")
    return ok("GET /api/me: role admin") if role == "admin" else fail(f"the admin token is a {role!r}'s")


def unauthenticated_is_401(probe: Probe) -> Verdict:
    answer = probe.memo("anonymous_me", lambda: probe.bff.get("/api/me"))
    defects = problem_defects(answer, 401)
    challenge = answer.headers.get("www-authenticate", "")
    if not challenge.lower().startswith("bearer"):
        defects.append(f"WWW-Authenticate is {challenge!r}, not Bearer")
    return fail("; ".join(defects)) if defects else ok("401 problem with WWW-Authenticate: Bearer")


def unknown_path_is_404_problem(probe: Probe) -> Verdict:
    answer = probe.problem_answer()
    defects = problem_defects(answer, 404)
    return fail("; ".join(defects)) if defects else ok(f"404 {PROBLEM_MEDIA_TYPE} with {', '.join(PROBLEM_KEYS)}")


def bad_body_is_422_listing_fields(probe: Probe) -> Verdict:
    # No name, an asset class that does not exist and a field no deal has: refused before anything is created.
    answer = probe.bff.post(
        "/api/deals",
        json={"asset_class": "not-an-asset-class", "observability_check": probe.marker},
        headers=probe.bearer(probe.admin_token()),
    )
    defects = problem_defects(answer, 422)
    errors = json_body(answer).get("errors")
    fields = sorted({str(e.get("field")) for e in errors if isinstance(e, dict)}) if isinstance(errors, list) else []
    wanted = ["body.asset_class", "body.name"]
    absent = [name for name in wanted if name not in fields]
    if absent:
        defects.append("errors[].field lacks " + ", ".join(absent) + f" (got {fields})")
    return fail("; ".join(defects)) if defects else ok("422 problem listing " + ", ".join(fields))


# Security headers, each on an API answer, a problem and /healthz


def _header_check(
    header: str, holds: Callable[[str | None], bool], expectation: str, *, samples: str = "all"
) -> CheckFunction:
    def check(probe: Probe) -> Verdict:
        answers = probe.header_samples()
        if samples == "api":
            answers = answers[:2]
        wrong = [
            f"{label}: {answer.headers.get(header)!r}"
            for label, answer in answers
            if not holds(answer.headers.get(header))
        ]
        where = ", ".join(label for label, _ in answers)
        return (
            fail(f"{header} should be {expectation}; " + "; ".join(wrong)) if wrong else ok(f"{expectation} on {where}")
        )

    return check


def _present(value: str | None) -> bool:
    return bool(value and value.strip())


def _has_frame_ancestors_none(value: str | None) -> bool:
    directives = [d.strip().lower() for d in (value or "").split(";")]
    return "frame-ancestors 'none'" in directives


def _hsts(value: str | None) -> bool:
    match = re.search(r"max-age=(\d+)", value or "", re.IGNORECASE)
    return bool(match and int(match.group(1)) > 0)


def _no_version(value: str | None) -> bool:
    return value is None or not re.search(r"[/\d]", value)


def _equals(expected: str) -> Callable[[str | None], bool]:
    return lambda value: (value or "").strip().lower() == expected.lower()


def _contains(expected: str) -> Callable[[str | None], bool]:
    return lambda value: expected in [part.strip().lower() for part in (value or "").split(",")]


# Request id


def _request_id_of(answer: httpx.Response) -> str:
    return str(answer.headers.get("x-request-id", ""))


def request_id_echoed(probe: Probe) -> Verdict:
    sent = f"observability-check.{probe.marker}"
    got = _request_id_of(probe.bff.get("/healthz", headers={"X-Request-ID": sent}))
    return ok("a valid X-Request-ID comes back as sent") if got == sent else fail(f"sent {sent!r}, got {got!r}")


def request_id_invalid_replaced(probe: Probe) -> Verdict:
    # Characters outside [A-Za-z0-9._-]; header-safe, so the client sends it as is.
    sent = f"bad id {probe.marker}; drop table"
    got = _request_id_of(probe.bff.get("/healthz", headers={"X-Request-ID": sent}))
    if got == sent or not REQUEST_ID_SHAPE.match(got):
        return fail(f"sent an invalid id, got {got!r}")
    return ok(f"replaced by {got}")


def request_id_too_long_replaced(probe: Probe) -> Verdict:
    sent = "a" * 129
    got = _request_id_of(probe.bff.get("/healthz", headers={"X-Request-ID": sent}))
    if got == sent or not REQUEST_ID_SHAPE.match(got):
        return fail(f"sent 129 characters, got {got[:40]!r}{'...' if len(got) > 40 else ''}")
    return ok("a 129-character id is replaced")


def request_id_generated(probe: Probe) -> Verdict:
    got = _request_id_of(probe.healthz())
    return ok(f"generated {got}") if REQUEST_ID_SHAPE.match(got) else fail(f"no valid X-Request-ID: {got!r}")


def request_id_in_problem_body(probe: Probe) -> Verdict:
    answer = probe.problem_answer()
    header, body_id = _request_id_of(answer), json_body(answer).get("request_id")
    if not header or header != body_id:
        return fail(f"header {header!r}, body request_id {body_id!r}")
    return ok("the problem's request_id is the X-Request-ID header")


def kernel_request_id_echoed(probe: Probe) -> Verdict:
    sent = f"observability-check.kernel.{probe.marker}"
    got = _request_id_of(probe.kernel.get("/healthz", headers={"X-Request-ID": sent}))
    return ok("the kernel echoes X-Request-ID") if got == sent else fail(f"sent {sent!r}, got {got!r}")


# Trace context


def _traceparent(answer: httpx.Response) -> tuple[str, str, str] | None:
    match = TRACEPARENT_SHAPE.match(answer.headers.get("traceparent", ""))
    return (match.group(1), match.group(2), match.group(3)) if match else None


def _continues_trace(client: httpx.Client, path: str) -> Verdict:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    answer = client.get(path, headers={"traceparent": f"00-{trace_id}-{span_id}-01"})
    got = _traceparent(answer)
    if got is None:
        return fail(f"no valid traceparent in the answer: {answer.headers.get('traceparent')!r}")
    if got[0] != trace_id:
        return fail("the answer's trace id is not the one sent")
    if got[1] == span_id:
        return fail("the answer names the caller's span, not its own")
    if got[2] != "01":
        return fail(f"flags {got[2]!r}, sent '01'")
    return ok("same trace id and flags, its own span id")


def trace_continued(probe: Probe) -> Verdict:
    return _continues_trace(probe.bff, "/healthz")


def _new_trace_for(probe: Probe, sent: str) -> Verdict:
    answer = probe.bff.get("/healthz", headers={"traceparent": sent})
    got = _traceparent(answer)
    if got is None:
        return fail(f"no valid traceparent in the answer: {answer.headers.get('traceparent')!r}")
    if got[0] == "0" * 32 or got[0] in sent:
        return fail(f"answered {answer.headers.get('traceparent')!r} for {sent!r}")
    return ok("a new valid trace")


def trace_malformed_replaced(probe: Probe) -> Verdict:
    return _new_trace_for(probe, f"00-{probe.marker}-not-a-trace-01")


def trace_zero_id_replaced(probe: Probe) -> Verdict:
    return _new_trace_for(probe, f"00-{'0' * 32}-{secrets.token_hex(8)}-01")


def trace_generated(probe: Probe) -> Verdict:
    got = _traceparent(probe.healthz())
    return (
        ok(f"trace {got[0]}") if got else fail(f"no valid traceparent: {probe.healthz().headers.get('traceparent')!r}")
    )


def kernel_trace_continued(probe: Probe) -> Verdict:
    return _continues_trace(probe.kernel, "/healthz")


# Rate limit


def rate_limit_policy(probe: Probe) -> Verdict:
    value = probe.api_answer().headers.get("ratelimit-policy", "")
    match = RATE_LIMIT_POLICY_SHAPE.match(value)
    return ok(value) if match else fail(f"RateLimit-Policy is {value!r}")


def rate_limit_state(probe: Probe) -> Verdict:
    answer = probe.api_answer()
    policy = RATE_LIMIT_POLICY_SHAPE.match(answer.headers.get("ratelimit-policy", ""))
    state = RATE_LIMIT_SHAPE.match(answer.headers.get("ratelimit", ""))
    if state is None:
        return fail(f"RateLimit is {answer.headers.get('ratelimit')!r}")
    if policy is not None and (state.group(1) != policy.group(1) or int(state.group(2)) > int(policy.group(2))):
        return fail(f"RateLimit {state.group(0)!r} does not fit RateLimit-Policy {policy.group(0)!r}")
    return ok(state.group(0))


HTTP_CHECKS: tuple[Check, ...] = (
    Check("health.bff_healthz", bff_healthz),
    Check("health.bff_readyz", bff_readyz),
    Check("health.kernel_healthz", kernel_healthz),
    Check("health.kernel_readyz", kernel_readyz),
    Check("auth.admin_token", admin_signed_in),
    Check("problems.unauthenticated_401", unauthenticated_is_401),
    Check("problems.unknown_path_404", unknown_path_is_404_problem),
    Check("problems.bad_body_422", bad_body_is_422_listing_fields),
    Check(
        "headers.csp_frame_ancestors",
        _header_check("Content-Security-Policy", _has_frame_ancestors_none, "a CSP with frame-ancestors 'none'"),
    ),
    Check("headers.hsts", _header_check("Strict-Transport-Security", _hsts, "HSTS with a max-age")),
    Check("headers.x_frame_options", _header_check("X-Frame-Options", _equals("DENY"), "DENY")),
    Check("headers.nosniff", _header_check("X-Content-Type-Options", _equals("nosniff"), "nosniff")),
    Check("headers.referrer_policy", _header_check("Referrer-Policy", _present, "present")),
    Check("headers.permissions_policy", _header_check("Permissions-Policy", _present, "present")),
    Check("headers.coop", _header_check("Cross-Origin-Opener-Policy", _present, "present")),
    Check(
        "headers.cache_control_no_store",
        _header_check("Cache-Control", _contains("no-store"), "no-store", samples="api"),
    ),
    Check("headers.no_server_version", _header_check("Server", _no_version, "absent or without a version")),
    Check("headers.no_x_powered_by", _header_check("X-Powered-By", lambda v: v is None, "absent")),
    Check("rate_limit.policy_header", rate_limit_policy),
    Check("rate_limit.state_header", rate_limit_state),
    Check("request_id.valid_echoed", request_id_echoed),
    Check("request_id.invalid_replaced", request_id_invalid_replaced),
    Check("request_id.too_long_replaced", request_id_too_long_replaced),
    Check("request_id.generated", request_id_generated),
    Check("request_id.problem_body_matches", request_id_in_problem_body),
    Check("request_id.kernel_echoed", kernel_request_id_echoed),
    Check("trace.valid_continued", trace_continued),
    Check("trace.malformed_replaced", trace_malformed_replaced),
    Check("trace.zero_trace_id_replaced", trace_zero_id_replaced),
    Check("trace.generated", trace_generated),
    Check("trace.kernel_continued", kernel_trace_continued),
)

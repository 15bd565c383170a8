"""Schemathesis against the running stack: the BFF answers only what its OpenAPI document says.

For each role that writes (admin and gp, docs/RBAC.md), schemathesis' engine (its Python API, the
run ``st run`` makes) loads the document the BFF serves and sends generated requests, valid and
invalid, over real HTTP to the session's stack, through all its phases: the schema's examples,
coverage (boundary values, missing required headers, undocumented methods), fuzzing, and
stateful sequences that feed one answer's ids into the next request. Every answer must be no
server error, have a documented status and content type, and a body and headers matching the
documented schema; a request without the credential or a required header, or with an undocumented
method, must be refused.

Money POSTs get a fresh ``Idempotency-Key`` per request (the ``before_call`` hook), so they reach
the kernel instead of stopping at ``IDEMPOTENCY_KEY_REUSED``; a request generated without a valid
key keeps what it had, so the 400 ``IDEMPOTENCY_KEY_REQUIRED`` path is exercised as well.

Bounded for CI: ``CORNERSTONE_SCHEMATHESIS_EXAMPLES`` examples per operation and phase (default
10) and a per-request deadline. The seed is printed with any failure; replay a run with
``CORNERSTONE_SCHEMATHESIS_SEED=<seed>``.
"""

from __future__ import annotations

import os
import random
import uuid
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from cornerstone.kit.idempotency_keys import KEY_HEADER, is_valid_key
from tests.support import Stack, new_org

# The roles that may write (docs/RBAC.md): between them every operation is reached past its role check.
ROLES = ("admin", "gp")
MAX_EXAMPLES = int(os.environ.get("CORNERSTONE_SCHEMATHESIS_EXAMPLES", "10"))
SEED = int(os.environ.get("CORNERSTONE_SCHEMATHESIS_SEED") or random.SystemRandom().getrandbits(64))
# Seconds: a request slower than this on the loopback is a finding, not something to wait out.
DEADLINE = 10
# Each ends the caller's own sign-in (revoked token, new password): the run would go on as nobody.
# tests/bff/test_auth_and_users.py covers both.
ENDS_THE_SESSION = ["/api/auth/logout", "/api/auth/password"]
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "missing_required_header",
    "unsupported_method",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
)


@schemathesis.hook("before_call")
def fresh_idempotency_key(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """A new ``Idempotency-Key`` for each money request generated with a valid one (every retry of a
    real client reuses its key; every new request here is a new one)."""
    headers = case.headers
    if headers and isinstance(headers.get(KEY_HEADER), str) and is_valid_key(headers[KEY_HEADER].strip()):
        headers[KEY_HEADER] = uuid.uuid4().hex


def findings(stack: Stack, role: str) -> tuple[list[str], int]:
    """Every failed check of one run as ``role`` of a fresh org, each with a curl command to replay
    it, and how many requests the run sent."""
    token = new_org(stack).token(role)
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "workers": 1,  # two cores, shared with the stack under test
            "headers": {"Authorization": f"Bearer {token}"},
            "request-timeout": DEADLINE,
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            # Nothing carried over from earlier runs (.schemathesis/): the seed alone replays a run.
            "cache": {"enabled": False},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{stack.bff.url}/api/openapi.json", config=config, timeout=30)
    found: dict[tuple[str, str, str], str] = {}
    requests = 0
    for event in from_schema(schema.exclude(path=ENDS_THE_SESSION)).execute():
        if isinstance(event, events.ScenarioFinished):
            requests += len(event.recorder.interactions)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    key = (event.recorder.label, check.name, failure.title)
                    found.setdefault(
                        key,
                        f"{event.recorder.label}: {check.name}: {failure.title}\n{failure.message}\n"
                        f"{check.failure_info.code_sample}",
                    )
        elif isinstance(event, events.NonFatalError):
            found.setdefault((event.label, "error", ""), f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    return list(found.values()), requests


@pytest.mark.parametrize("role", ROLES)
def test_every_answer_is_one_the_document_lists(stack: Stack, role: str) -> None:
    replay = f"seed {SEED} (replay: CORNERSTONE_SCHEMATHESIS_SEED={SEED}), role {role}, backend {stack.backend}"
    print(f"schemathesis {replay}, {MAX_EXAMPLES} examples per operation")
    failures, requests = findings(stack, role)
    assert requests > 100, f"the run sent only {requests} requests: it proved nothing ({replay})"
    assert not failures, f"{len(failures)} findings, {replay}:\n\n" + "\n\n".join(failures)

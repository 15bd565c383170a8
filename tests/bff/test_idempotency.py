"""Idempotency keys on money POSTs (API.md, cross-cutting rules), proved on a probe route.

The probe is the real BFF (``create_app``, every middleware) with one test-only route added to
*this* instance: it declares ``Idempotent`` as a money route does, and its action counts how
often it ran (per ``tag``), optionally takes a while, or fails as told. The app runs under
uvicorn in a thread of the test process, so the counters are the ones the action increments,
and every call is real HTTP. Orgs and tokens come from the session stack (same database, same
signing key).
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Literal

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, func, insert, select, update
from starlette.responses import Response

from cornerstone.bff.app import create_app
from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.auth.dependencies import CurrentUser
from cornerstone.bff.config import BffSettings
from cornerstone.bff.idempotency import (
    IN_FLIGHT_LEASE,
    REPLAYED_HEADER,
    request_fingerprint,
)
from cornerstone.bff.idempotency.dependencies import Idempotent
from cornerstone.bff.maintenance import sweep_expired
from cornerstone.bff.models import IdempotencyRecordRow
from cornerstone.kit.clock import utcnow
from cornerstone.kit.db import Database
from cornerstone.kit.ids import new_id
from cornerstone.kit.problems import Conflict, ServiceUnavailable
from tests.integration.helpers import assert_problem
from tests.support import (
    Databases,
    Org,
    Stack,
    free_port,
    logging_put_back,
    stack_bff_settings,
    sync_engine,
    wait_until,
)

PROBE_PATH = "/api/test-only/idempotent-probes"

# How often each probe's action ran, by tag (each test uses tags of its own).
CALLS: Counter[str] = Counter()
_CALLS_LOCK = threading.Lock()


class CallExceedsUnfunded(Conflict):
    """Stands in for the kernel's 409 forwarded as an AppError, with an extra field."""

    code = "CALL_EXCEEDS_UNFUNDED"
    title = "Call exceeds unfunded commitments"


class Probe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: str
    amount: int = 100
    # refused: a 409 AppError on every run; outage / crash: the first `failures` runs raise a 503
    # AppError / a RuntimeError, later runs succeed.
    outcome: Literal["created", "refused", "outage", "crash"] = "created"
    failures: int = 0
    seconds: float = 0.0  # how long the action takes (a slow kernel)


probe_router = APIRouter()


@probe_router.post(PROBE_PATH, status_code=201, openapi_extra=audited("test.idempotent_probe", "probe"))
async def create_probe(body: Probe, user: CurrentUser, idem: Idempotent) -> Response:
    async def action() -> dict[str, Any]:
        with _CALLS_LOCK:
            CALLS[body.tag] += 1
            run = CALLS[body.tag]
        if body.seconds:
            await asyncio.sleep(body.seconds)
        if body.outcome == "refused":
            raise CallExceedsUnfunded("The call is larger than the fund's unfunded commitments.", extra={"short": 7})
        if body.outcome == "outage" and run <= body.failures:
            raise ServiceUnavailable("The kernel is down.", headers={"Retry-After": "5"})
        if body.outcome == "crash" and run <= body.failures:
            raise RuntimeError("the action failed half-way")
        return {"id": new_id(), "tag": body.tag, "amount": body.amount, "run": run, "by": user.user_id}

    return await idem.run(status_code=201, action=action)


def probe_app(settings: BffSettings) -> FastAPI:
    """``create_app`` plus the probe route, on this instance only (the route walkers build their own).
    Building the app configures logging for a server process; the test process's is put back."""
    with logging_put_back():
        app = create_app(settings)
    app.include_router(probe_router)
    return app


@pytest.fixture(scope="module")
def probe_url(stack: Stack) -> Iterator[str]:
    """The probe app under uvicorn in a thread, on the stack's BFF database and signing key."""
    settings = stack_bff_settings(stack, rate_limit_per_minute=1_000_000, login_rate_limit_per_minute=1_000_000)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            probe_app(settings),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            server_header=False,
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, name="idempotency-probe-server", daemon=True)
    thread.start()

    def started() -> bool:
        assert thread.is_alive(), "the probe server thread ended before it started"
        return server.started

    wait_until(started, 30, "the probe server to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "the probe server did not stop"


@pytest.fixture(scope="module")
def superuser_db(databases: Databases) -> Iterator[Engine]:
    """Blocking access as the superuser (no row-level security), to age records as time would."""
    engine = sync_engine(databases.bff_url)
    yield engine
    engine.dispose()


def probe_client(probe_url: str, org: Org) -> httpx.Client:
    return httpx.Client(base_url=probe_url, headers={"Authorization": f"Bearer {org.admin_token}"}, timeout=30.0)


def post_probe(client: httpx.Client, key: str | bytes | None, **body: Any) -> httpx.Response:
    headers: dict[str, str | bytes] = {} if key is None else {"Idempotency-Key": key}
    return client.post(PROBE_PATH, json=body, headers=headers)


def new_tag() -> str:
    return uuid.uuid4().hex


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


def record_count(engine: Engine, org: Org, key: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(IdempotencyRecordRow)
                .where(IdempotencyRecordRow.org_id == org.org_id, IdempotencyRecordRow.key == key)
            ).scalar_one()
        )


def age_record(engine: Engine, org: Org, key: str, **values: Any) -> None:
    with engine.begin() as conn:
        aged = conn.execute(
            update(IdempotencyRecordRow)
            .where(IdempotencyRecordRow.org_id == org.org_id, IdempotencyRecordRow.key == key)
            .values(**values)
        )
        assert aged.rowcount == 1


# --- the fingerprint --------------------------------------------------------------------------


def test_the_fingerprint_is_of_method_path_and_canonical_body() -> None:
    same = request_fingerprint("POST", "/api/capital-calls", b'{"b": 1, "a": [1, 2]}')
    assert same == request_fingerprint("post", "/api/capital-calls", b'{"a":[1,2],"b":1}')
    assert len(same) == 64
    assert same != request_fingerprint("POST", "/api/distributions", b'{"a":[1,2],"b":1}')
    assert same != request_fingerprint("PUT", "/api/capital-calls", b'{"a":[1,2],"b":1}')
    assert same != request_fingerprint("POST", "/api/capital-calls", b'{"a":[2,1],"b":1}')
    # Not JSON: the raw bytes, so any byte counts.
    assert request_fingerprint("POST", "/p", b"a=1") != request_fingerprint("POST", "/p", b"a=1 ")
    assert request_fingerprint("POST", "/p", b"") == request_fingerprint("POST", "/p", b"")


# --- the key ----------------------------------------------------------------------------------


def test_a_money_post_without_a_key_is_refused_and_nothing_runs(probe_url: str, org: Org) -> None:
    tag = new_tag()
    with probe_client(probe_url, org) as client:
        for key in (None, ""):
            body = assert_problem(post_probe(client, key, tag=tag), 400, "IDEMPOTENCY_KEY_REQUIRED")
            assert "Idempotency-Key" in body["detail"]
    assert CALLS[tag] == 0


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "caf\xc3\xa9".encode("latin-1"), b"tab\there"],
    ids=["256-chars", "non-ascii", "control-char"],
)
def test_a_malformed_key_is_refused_with_a_clear_detail(probe_url: str, org: Org, key: str | bytes) -> None:
    tag = new_tag()
    with probe_client(probe_url, org) as client:
        body = assert_problem(post_probe(client, key, tag=tag), 400, "IDEMPOTENCY_KEY_REQUIRED")
    assert "malformed" in body["detail"]
    assert "255 printable ASCII" in body["detail"]
    assert CALLS[tag] == 0


def test_keys_of_255_printable_characters_are_accepted(probe_url: str, org: Org) -> None:
    with probe_client(probe_url, org) as client:
        for key in ("k" * 255, "a b~!@#$%^&*()_+{}|:<>?" + uuid.uuid4().hex):
            response = post_probe(client, key, tag=new_tag())
            assert response.status_code == 201, response.text


def test_without_a_token_the_answer_is_401_not_a_key_problem(probe_url: str) -> None:
    with httpx.Client(base_url=probe_url) as client:
        response = post_probe(client, None, tag=new_tag())
    assert_problem(response, 401, "UNAUTHORIZED")


# --- replay -----------------------------------------------------------------------------------


def test_the_same_key_and_payload_runs_once_and_replays_the_exact_response(probe_url: str, org: Org) -> None:
    tag, key = new_tag(), new_key()
    with probe_client(probe_url, org) as client:
        first = post_probe(client, key, tag=tag, amount=250)
        # The same payload, other key order and whitespace: the canonical body is what counts.
        again = client.post(
            PROBE_PATH,
            content=json.dumps({"amount": 250, "tag": tag}, indent=2).encode(),
            headers={"Idempotency-Key": key, "Content-Type": "application/json"},
        )
    assert first.status_code == 201, first.text
    assert REPLAYED_HEADER.lower() not in first.headers
    assert first.headers["content-type"] == "application/json"
    assert first.json()["run"] == 1
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers[REPLAYED_HEADER] == "true"
    assert again.headers["content-type"] == "application/json"
    # The replay still passes through the app's layers: its own request id, the security headers.
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert again.headers["x-frame-options"] == "DENY"
    assert CALLS[tag] == 1


def test_the_same_key_with_another_payload_is_refused(probe_url: str, org: Org) -> None:
    tag, key = new_tag(), new_key()
    with probe_client(probe_url, org) as client:
        assert post_probe(client, key, tag=tag, amount=100).status_code == 201
        reused = post_probe(client, key, tag=tag, amount=101)
        body = assert_problem(reused, 422, "IDEMPOTENCY_KEY_REUSED")
        assert "different request" in body["detail"]
        assert REPLAYED_HEADER.lower() not in reused.headers
        # The original outcome is untouched: the first payload still replays.
        replay = post_probe(client, key, tag=tag, amount=100)
    assert (replay.status_code, replay.headers[REPLAYED_HEADER]) == (201, "true")
    assert CALLS[tag] == 1


def test_keys_are_scoped_per_org(probe_url: str, org: Org, other_org: Org) -> None:
    tag, key = new_tag(), new_key()
    with probe_client(probe_url, org) as first_org, probe_client(probe_url, other_org) as second_org:
        first = post_probe(first_org, key, tag=tag)
        second = post_probe(second_org, key, tag=tag)
    assert (first.status_code, second.status_code) == (201, 201)
    assert REPLAYED_HEADER.lower() not in second.headers
    assert (first.json()["run"], second.json()["run"]) == (1, 2)
    assert CALLS[tag] == 2


# --- outcomes that are stored, and outcomes that are not -----------------------------------------


def test_a_refusal_below_500_is_stored_and_replayed_byte_for_byte(probe_url: str, org: Org) -> None:
    tag, key = new_tag(), new_key()
    with probe_client(probe_url, org) as client:
        first = post_probe(client, key, tag=tag, outcome="refused")
        replay = post_probe(client, key, tag=tag, outcome="refused")
    body = assert_problem(first, 409, "CALL_EXCEEDS_UNFUNDED")
    assert body["short"] == 7
    assert replay.status_code == 409
    assert replay.headers["content-type"] == "application/problem+json"
    assert replay.headers[REPLAYED_HEADER] == "true"
    # The stored problem is the first request's, request id included.
    assert replay.content == first.content
    assert replay.json()["request_id"] == first.headers["x-request-id"]
    assert CALLS[tag] == 1


@pytest.mark.parametrize("outcome", ["outage", "crash"])
def test_a_5xx_or_an_exception_is_not_stored_and_the_same_key_runs_again(
    probe_url: str, org: Org, superuser_db: Engine, outcome: str
) -> None:
    tag, key = new_tag(), new_key()
    with probe_client(probe_url, org) as client:
        failed = post_probe(client, key, tag=tag, outcome=outcome, failures=1)
        assert record_count(superuser_db, org, key) == 0
        retried = post_probe(client, key, tag=tag, outcome=outcome, failures=1)
        replay = post_probe(client, key, tag=tag, outcome=outcome, failures=1)
    if outcome == "outage":
        assert_problem(failed, 503, "SERVICE_UNAVAILABLE")
        assert failed.headers["retry-after"] == "5"
    else:
        assert_problem(failed, 500, "INTERNAL_ERROR")
    assert REPLAYED_HEADER.lower() not in failed.headers
    assert retried.status_code == 201, retried.text
    assert retried.json()["run"] == 2
    assert REPLAYED_HEADER.lower() not in retried.headers
    assert (replay.status_code, replay.content) == (201, retried.content)
    assert CALLS[tag] == 2


# --- time: in flight, abandoned, expired ---------------------------------------------------------


def _claim_row(org: Org, key: str, fingerprint: str, *, lease_left: timedelta) -> dict[str, Any]:
    """An in-flight claim whose lease ends ``lease_left`` from now (in the past when negative), as
    a BFF process that stopped renewing it (it died) left it."""
    now = utcnow()
    return {
        "id": new_id(),
        "org_id": org.org_id,
        "key": key,
        "fingerprint": fingerprint,
        "state": "in_flight",
        "user_id": new_id(),
        "created_at": now - timedelta(seconds=30),
        "expires_at": now + lease_left,
    }


def test_a_key_in_flight_is_answered_409_until_its_lease_ends_then_taken_over(
    probe_url: str, org: Org, superuser_db: Engine
) -> None:
    tag, busy_key, long_key, abandoned_key = new_tag(), new_key(), new_key(), new_key()
    body = {"tag": tag, "amount": 100, "outcome": "created", "failures": 0, "seconds": 0.0}
    fingerprint = request_fingerprint("POST", PROBE_PATH, json.dumps(body).encode())
    with superuser_db.begin() as conn:
        for key, lease_left in (
            (busy_key, timedelta(seconds=3)),
            # Written with a lease far longer than this BFF's (another replica's setting): Retry-After
            # is capped at this BFF's lease, so the client comes back no later than one of ours ends.
            (long_key, timedelta(hours=1)),
            (abandoned_key, timedelta(seconds=-1)),
        ):
            conn.execute(
                insert(IdempotencyRecordRow).values(**_claim_row(org, key, fingerprint, lease_left=lease_left))
            )
    with probe_client(probe_url, org) as client:
        busy = post_probe(client, busy_key, **body)
        long = post_probe(client, long_key, **body)
        taken_over = post_probe(client, abandoned_key, **body)
    assert_problem(busy, 409, "IDEMPOTENCY_IN_FLIGHT")
    assert busy.headers["retry-after"] in {"3", "2"}  # the whole seconds left of its lease, rounded up
    assert_problem(long, 409, "IDEMPOTENCY_IN_FLIGHT")
    assert long.headers["retry-after"] == str(int(IN_FLIGHT_LEASE.total_seconds()))
    assert taken_over.status_code == 201, taken_over.text
    assert REPLAYED_HEADER.lower() not in taken_over.headers
    assert CALLS[tag] == 1


def test_an_expired_record_is_swept_and_its_key_can_be_used_again(
    probe_url: str, org: Org, databases: Databases, superuser_db: Engine
) -> None:
    tag, swept_key, lingering_key, fresh_key = new_tag(), new_key(), new_key(), new_key()
    with probe_client(probe_url, org) as client:
        for key in (swept_key, lingering_key, fresh_key):
            assert post_probe(client, key, tag=tag).status_code == 201
        past = utcnow() - timedelta(seconds=1)
        age_record(superuser_db, org, swept_key, expires_at=past)
        age_record(superuser_db, org, lingering_key, expires_at=past)

        # Not swept yet: the claim itself deletes the expired record, even for another payload.
        reused = post_probe(client, lingering_key, tag=tag, amount=999)
        assert reused.status_code == 201, reused.text
        assert REPLAYED_HEADER.lower() not in reused.headers

        async def sweep() -> int:
            database = Database(databases.bff_owner_url)
            try:
                return (await sweep_expired(database, utcnow()))["idempotency_records"]
            finally:
                await database.dispose()

        assert asyncio.run(sweep()) >= 1
        assert record_count(superuser_db, org, swept_key) == 0
        assert record_count(superuser_db, org, lingering_key) == 1  # its new record is not expired
        assert record_count(superuser_db, org, fresh_key) == 1

        again = post_probe(client, swept_key, tag=tag)
        replay = post_probe(client, fresh_key, tag=tag)
    assert again.status_code == 201, again.text
    assert REPLAYED_HEADER.lower() not in again.headers
    assert replay.headers[REPLAYED_HEADER] == "true"
    assert CALLS[tag] == 5


def test_the_sweep_runs_on_the_app_role_and_takes_only_expired_records(
    probe_url: str, org: Org, databases: Databases, superuser_db: Engine
) -> None:
    tag, key = new_tag(), new_key()
    with probe_client(probe_url, org) as client:
        assert post_probe(client, key, tag=tag).status_code == 201
    age_record(superuser_db, org, key, expires_at=utcnow() - timedelta(minutes=1))

    async def sweep() -> int:
        database = Database(databases.bff_app_url)
        try:
            return (await sweep_expired(database, utcnow()))["idempotency_records"]
        finally:
            await database.dispose()

    assert asyncio.run(sweep()) == 1
    assert record_count(superuser_db, org, key) == 0


# --- concurrency ----------------------------------------------------------------------------------


def test_twenty_concurrent_identical_posts_run_the_action_once(probe_url: str, org: Org) -> None:
    tag, key = new_tag(), new_key()
    body = {"tag": tag, "amount": 500, "seconds": 0.5}
    start = threading.Barrier(20)

    def one(_: int) -> httpx.Response:
        with probe_client(probe_url, org) as client:
            start.wait(timeout=30)
            return post_probe(client, key, **body)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(one, range(20)))

    assert CALLS[tag] == 1
    created = [r for r in responses if r.status_code == 201]
    in_flight = [r for r in responses if r.status_code == 409]
    assert len(created) + len(in_flight) == 20, [(r.status_code, r.text) for r in responses]
    assert created, "no request got the 201"
    originals = [r for r in created if REPLAYED_HEADER.lower() not in r.headers]
    assert len(originals) == 1
    assert len({r.content for r in created}) == 1
    for response in in_flight:
        assert_problem(response, 409, "IDEMPOTENCY_IN_FLIGHT")
    with probe_client(probe_url, org) as client:
        after = post_probe(client, key, **body)
    assert (after.status_code, after.headers[REPLAYED_HEADER]) == (201, "true")
    assert after.content == created[0].content
    assert CALLS[tag] == 1

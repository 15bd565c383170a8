"""``GET /metrics`` on both running services (API.md, "Observability and failure safety").

The stack's BFF and kernel are real servers; their metrics token is the one they generated into
the shared data dir. Counters are read from two scrapes around the traffic that should move
them: the session's tests run one at a time, so nothing else touches these series in between.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from cornerstone.kit.metrics import FAMILIES
from cornerstone.kit.settings import CommonSettings
from tests.integration.helpers import assert_problem, commit, create_fund, create_investor
from tests.support import Org, Stack

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def metrics_token(stack: Stack) -> str:
    # The explicit None wins over any CORNERSTONE_METRICS_TOKEN of the test process's environment.
    return CommonSettings(data_dir=stack.databases.data_dir, metrics_token=None).resolved_metrics_token()


def scrape(url: str, token: str) -> dict[str, Metric]:
    answer = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10.0)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
    return {family_name(family): family for family in text_string_to_metric_families(answer.text)}


def family_name(family: Metric) -> str:
    # The parser names a counter family without `_total`; FAMILIES names it as scraped.
    return f"{family.name}_total" if family.type == "counter" else family.name


def value(families: dict[str, Metric], name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` (a counter's ``_total``, a gauge) whose labels include ``labels``."""
    return sum(
        sample.value
        for sample in families[name].samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


@pytest.mark.parametrize("service", ["bff", "kernel"])
@pytest.mark.parametrize(
    ("authorization", "detail"),
    [(None, "required"), ("Bearer not-the-token", "not valid"), ("Basic dXNlcjpwYXNz", "required")],
    ids=["no-token", "wrong-token", "basic"],
)
def test_metrics_without_the_token_is_a_401_problem(
    stack: Stack, service: str, authorization: str | None, detail: str
) -> None:
    url = stack.bff.url if service == "bff" else stack.kernel.url
    headers = {"Authorization": authorization} if authorization else {}
    answer = httpx.get(f"{url}/metrics", headers=headers, timeout=10.0)
    body = assert_problem(answer, 401, "UNAUTHORIZED")
    assert answer.headers["www-authenticate"] == "Bearer"
    assert detail in body["detail"]
    assert "cornerstone_" not in answer.text


def test_the_kernels_metrics_need_the_metrics_token_not_the_service_credential(stack: Stack) -> None:
    # The service key itself, or a credential the BFF mints from it, opens only the kernel's routes.
    with_service_key = httpx.get(
        f"{stack.kernel.url}/metrics",
        headers={"Authorization": f"Bearer {stack.env['CORNERSTONE_SERVICE_KEY']}"},
        timeout=10.0,
    )
    assert_problem(with_service_key, 401, "UNAUTHORIZED")
    assert "cornerstone_http_requests_total" in scrape(stack.kernel.url, metrics_token(stack))


def test_every_family_is_exported_and_has_samples_after_traffic(org: Org) -> None:
    stack = org.stack
    with org.client() as admin:
        assert admin.get("/api/deals").status_code == 200
        assert admin.post("/api/deals", json={}).status_code == 422
    bff = scrape(stack.bff.url, metrics_token(stack))
    kernel = scrape(stack.kernel.url, metrics_token(stack))
    assert sorted(set(FAMILIES) - bff.keys()) == []
    assert sorted(set(FAMILIES) - kernel.keys()) == []
    without_samples = [name for name in FAMILIES if not bff[name].samples]
    assert without_samples == []
    for families, service in ((bff, "bff"), (kernel, "kernel")):
        assert value(families, "cornerstone_http_requests_total", service=service) > 0
        assert value(families, "cornerstone_db_pool_max_connections", service=service) > 0
        assert {s.labels["state"] for s in families["cornerstone_db_pool_connections"].samples} == {
            "checked_out",
            "idle",
        }
        assert families["process_resident_memory_bytes"].samples[0].value > 0
        assert families["process_cpu_seconds_total"].samples[0].value > 0
    assert value(bff, "cornerstone_http_requests_total", service="bff", route="/api/deals", status="200") >= 1
    # The kernel's routes are counted by template, never by an org id.
    kernel_routes = {s.labels["route"] for s in kernel["cornerstone_http_requests_total"].samples}
    assert org.org_id not in " ".join(kernel_routes)
    assert any("{org_id}" in route for route in kernel_routes)


def test_a_replayed_money_request_counts_once(org: Org) -> None:
    stack, token = org.stack, metrics_token(org.stack)
    with org.client() as admin:
        fund = create_fund(admin, name=f"Metrics Fund {uuid.uuid4().hex[:6]}")
        investor = create_investor(admin, name="Metrics Endowment", type="endowment")
        commit(admin, fund["id"], investor["id"], 1_000_000_00)
        body = {"fund_id": fund["id"], "amount": 100_000_00, "due_date": "2026-05-01", "purpose": "acquisition"}
        key = {"Idempotency-Key": f"metrics-{uuid.uuid4().hex}"}
        before = value(scrape(stack.bff.url, token), "cornerstone_idempotency_replays_total")
        first = admin.post("/api/capital-calls", json=body, headers=key)
        assert first.status_code == 201, first.text
        middle = value(scrape(stack.bff.url, token), "cornerstone_idempotency_replays_total")
        again = admin.post("/api/capital-calls", json=body, headers=key)
        assert again.headers["idempotency-replayed"] == "true"
        after = value(scrape(stack.bff.url, token), "cornerstone_idempotency_replays_total")
    assert (middle - before, after - middle) == (0, 1)


def test_each_audit_record_counts_under_its_outcome(org: Org) -> None:
    stack, token = org.stack, metrics_token(org.stack)

    def outcomes() -> list[float]:
        families = scrape(stack.bff.url, token)
        return [
            value(families, "cornerstone_audit_records_total", outcome=outcome)
            for outcome in ("allowed", "refused", "failed")
        ]

    before = outcomes()
    with org.client() as admin:
        created = admin.post(
            "/api/investors", json={"name": "Audited LP", "type": "endowment", "email": "lp@example.test"}
        )
        assert created.status_code == 201, created.text
        assert admin.post("/api/investors", json={"name": ""}).status_code == 422
        assert admin.get("/api/investors").status_code == 200  # a read: no record
    with org.stack.client() as anonymous:
        assert anonymous.post("/api/investors", json={}).status_code == 401
    after = outcomes()
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 2, 0]


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if CI:
            pytest.fail("promtool is required under CI=true (Debian package `prometheus`)")
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    return path


@pytest.mark.parametrize("service", ["bff", "kernel"])
def test_the_exposition_passes_promtools_lint(stack: Stack, promtool: str, service: str) -> None:
    url = stack.bff.url if service == "bff" else stack.kernel.url
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {metrics_token(stack)}"}).text
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

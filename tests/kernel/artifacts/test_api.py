"""The kernel's artifact routes, in-process on each backend, with a small size limit of their own."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cornerstone.kernel.app import create_app
from cornerstone.kernel.artifacts.service import ArtifactNotFound, checked_artifact
from cornerstone.kernel.artifacts.storage import ArtifactCorrupt
from cornerstone.kernel.config import KernelSettings
from cornerstone.kit.db import Database
from cornerstone.kit.service_auth import ServiceCaller
from tests import artifact_samples as samples
from tests.kernel.helpers import KernelApi, TestClient, new_org_id
from tests.support import Databases

LIMIT = 4096


@pytest.fixture(scope="module")
def settings(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> KernelSettings:
    return KernelSettings(
        kernel_database_url=databases.kernel_app_url,
        service_key=secrets.token_urlsafe(32),
        data_dir=tmp_path_factory.mktemp("kernel-artifacts"),
        artifact_max_bytes=LIMIT,
        log_level="WARNING",
    )


@pytest.fixture(scope="module")
def api(settings: KernelSettings) -> Iterator[KernelApi]:
    with TestClient(create_app(settings)) as client:
        yield KernelApi(client, settings.service_key or "")


def upload(api: KernelApi, org: str, deal_id: str, content: bytes, filename: str, **kwargs: object) -> httpx.Response:
    return api.http.post(
        f"/kernel/v1/orgs/{org}/deals/{deal_id}/artifacts",
        params={"filename": filename},
        content=content,
        headers={**api.headers(org), "Content-Type": "application/octet-stream"},
        **kwargs,  # type: ignore[arg-type]
    )


def test_an_upload_is_typed_stored_listed_and_served_with_its_hash(api: KernelApi) -> None:
    org = new_org_id()
    deal = api.create_deal(org)
    created = upload(api, org, deal["id"], samples.PDF, "Offering Memo.pdf")
    assert created.status_code == 201, created.text
    artifact = created.json()
    assert (artifact["mime_type"], artifact["size"], artifact["filename"]) == (
        "application/pdf",
        len(samples.PDF),
        "Offering Memo.pdf",
    )
    assert artifact["sha256"] == hashlib.sha256(samples.PDF).hexdigest()
    assert artifact["uploaded_by"] == "user-admin"

    headers = api.headers(org)
    listed = api.http.get(f"/kernel/v1/orgs/{org}/deals/{deal['id']}/artifacts", headers=headers).json()
    assert listed == {"items": [artifact], "next_cursor": None}
    assert api.http.get(f"/kernel/v1/orgs/{org}/artifacts/{artifact['id']}", headers=headers).json() == artifact
    content = api.http.get(f"/kernel/v1/orgs/{org}/artifacts/{artifact['id']}/content", headers=headers)
    assert content.status_code == 200
    assert content.content == samples.PDF
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["x-artifact-sha256"] == artifact["sha256"]
    assert content.headers["content-disposition"].startswith('attachment; filename="Offering Memo.pdf"')


def test_a_missing_or_foreign_deal_is_404_before_the_body_is_read(api: KernelApi) -> None:
    org, other = new_org_id(), new_org_id()
    deal = api.create_deal(other)
    foreign = upload(api, org, deal["id"], samples.TEXT, "notes.txt")
    missing = upload(api, org, new_org_id(), samples.TEXT, "notes.txt")
    for response in (foreign, missing):
        assert (response.status_code, response.json()["code"]) == (404, "DEAL_NOT_FOUND")
    assert {k: v for k, v in foreign.json().items() if k != "request_id"} == {
        k: v for k, v in missing.json().items() if k != "request_id"
    }


def test_an_external_party_sees_no_artifact_of_a_deal_it_is_not_party_to(api: KernelApi) -> None:
    org = new_org_id()
    deal = api.create_deal(org)
    artifact = upload(api, org, deal["id"], samples.TEXT, "notes.txt").json()
    external = api.headers(org, role="external")
    for path in (f"/artifacts/{artifact['id']}", f"/artifacts/{artifact['id']}/content"):
        response = api.http.get(f"/kernel/v1/orgs/{org}{path}", headers=external)
        assert (response.status_code, response.json()["code"]) == (404, "ARTIFACT_NOT_FOUND")


def test_a_body_over_the_limit_is_413_declared_or_streamed(api: KernelApi, settings: KernelSettings) -> None:
    org = new_org_id()
    deal = api.create_deal(org)
    at_limit = upload(api, org, deal["id"], b"x" * LIMIT, "full.txt")
    assert at_limit.status_code == 201, at_limit.text
    declared = upload(api, org, deal["id"], b"x" * (LIMIT + 1), "over.txt")
    assert (declared.status_code, declared.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(LIMIT // 512 + 1):
            yield b"y" * 512

    streamed = upload(api, org, deal["id"], chunked(), "over.txt")  # type: ignore[arg-type]
    assert (streamed.status_code, streamed.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
    listed = api.http.get(f"/kernel/v1/orgs/{org}/deals/{deal['id']}/artifacts", headers=api.headers(org)).json()
    assert [item["filename"] for item in listed["items"]] == ["full.txt"]
    assert list((settings.data_dir / "artifacts" / org / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [(b"", 422, "VALIDATION_ERROR"), (samples.ELF, 415, "UNSUPPORTED_MEDIA_TYPE")],
    ids=["empty", "elf"],
)
def test_empty_or_unsupported_bytes_are_refused_and_nothing_is_kept(
    api: KernelApi, settings: KernelSettings, content: bytes, status: int, code: str
) -> None:
    org = new_org_id()
    deal = api.create_deal(org)
    response = upload(api, org, deal["id"], content, "report.pdf")
    assert (response.status_code, response.json()["code"]) == (status, code)
    stored = [p for p in (settings.data_dir / "artifacts" / org).rglob("*") if p.is_file()]
    assert stored == []


def test_checked_artifact_rehashes_the_stored_bytes(api: KernelApi, settings: KernelSettings) -> None:
    """The function the DOC-material gate calls: the row when the bytes still match, an error otherwise."""
    org = new_org_id()
    deal = api.create_deal(org)
    artifact = upload(api, org, deal["id"], samples.CSV, "rent-roll.csv").json()
    caller = ServiceCaller(org_id=org, actor_id="user-admin", actor_role="admin", service="bff")
    stranger = ServiceCaller(org_id=new_org_id(), actor_id="user-admin", actor_role="admin", service="bff")
    path: Path = settings.data_dir / "artifacts" / org / artifact["sha256"][:2] / artifact["sha256"]

    async def check(who: ServiceCaller) -> str:
        database = Database(settings.resolved_kernel_database_url())
        try:
            async with database.session(org_id=who.org_id) as session:
                return (await checked_artifact(session, who, artifact["id"], settings)).sha256
        finally:
            await database.dispose()

    assert asyncio.run(check(caller)) == artifact["sha256"]
    with pytest.raises(ArtifactNotFound):
        asyncio.run(check(stranger))
    path.write_bytes(samples.CSV.replace(b"Boston", b"Bastan"))
    with pytest.raises(ArtifactCorrupt):
        asyncio.run(check(caller))

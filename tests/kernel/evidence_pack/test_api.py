"""The kernel's evidence-pack route, in-process on each backend, with small artifact caps of its own:
which bytes go in, which are only listed, and who may ask."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from cornerstone.kernel.app import create_app
from cornerstone.kernel.config import KernelSettings
from cornerstone.kernel.evidence_pack.signing import existing_public_key
from cornerstone.kernel.evidence_pack.verify import verify_pack
from tests.kernel.helpers import KernelApi, TestClient, new_org_id
from tests.support import Databases

PER_FILE, TOTAL = 40, 70


@pytest.fixture(scope="module")
def settings(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> KernelSettings:
    return KernelSettings(
        kernel_database_url=databases.kernel_app_url,
        service_key=secrets.token_urlsafe(32),
        data_dir=tmp_path_factory.mktemp("kernel-evidence"),
        evidence_pack_artifact_max_bytes=PER_FILE,
        evidence_pack_artifacts_total_bytes=TOTAL,
        log_level="WARNING",
    )


@pytest.fixture(scope="module")
def api(settings: KernelSettings) -> Iterator[KernelApi]:
    with TestClient(create_app(settings)) as client:
        yield KernelApi(client, settings.service_key or "")


def _upload(api: KernelApi, org: str, deal_id: str, content: bytes) -> dict[str, Any]:
    response = api.http.post(
        f"/kernel/v1/orgs/{org}/deals/{deal_id}/artifacts",
        params={"filename": "note.txt"},
        content=content,
        headers={**api.headers(org), "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _pack(api: KernelApi, org: str, deal_id: str, role: str = "auditor") -> bytes:
    response = api.http.get(f"/kernel/v1/orgs/{org}/deals/{deal_id}/evidence-pack", headers=api.headers(org, role))
    assert response.status_code == 200, response.text
    return response.content


def _index(pack: bytes) -> tuple[list[dict[str, Any]], set[str]]:
    with zipfile.ZipFile(io.BytesIO(pack)) as archive:
        return json.loads(archive.read("artifacts.json")), set(archive.namelist())


def test_artifact_bytes_go_in_up_to_the_per_file_and_total_caps(api: KernelApi, settings: KernelSettings) -> None:
    org = new_org_id()
    deal = api.create_deal(org)
    small = _upload(api, org, deal["id"], b"a" * 30 + b"\n")
    other = _upload(api, org, deal["id"], b"b" * 30 + b"\n")
    too_big = _upload(api, org, deal["id"], b"c" * 50 + b"\n")
    again = _upload(api, org, deal["id"], b"a" * 30 + b"\n")  # the same bytes: one member, no more budget
    over_total = _upload(api, org, deal["id"], b"d" * 30 + b"\n")
    pack = _pack(api, org, deal["id"])
    index, names = _index(pack)
    by_id = {entry["id"]: entry for entry in index}
    assert [entry["id"] for entry in index] == [a["id"] for a in (small, other, too_big, again, over_total)]
    assert {k: by_id[small["id"]][k] for k in ("included", "withheld_reason")} == {
        "included": True,
        "withheld_reason": None,
    }
    assert by_id[other["id"]]["included"] is True
    assert by_id[again["id"]]["included"] is True
    assert by_id[too_big["id"]]["included"] is False
    assert "per-file cap" in by_id[too_big["id"]]["withheld_reason"]
    assert by_id[over_total["id"]]["included"] is False
    assert "total cap" in by_id[over_total["id"]]["withheld_reason"]
    assert {name for name in names if name.startswith("artifacts/")} == {
        f"artifacts/{small['sha256']}",
        f"artifacts/{other['sha256']}",
    }
    public_key = existing_public_key(settings.data_dir)
    assert public_key is not None
    assert verify_pack(pack, public_key).problems == []


def test_bytes_damaged_on_disk_are_listed_as_withheld_and_the_pack_still_verifies(
    api: KernelApi, settings: KernelSettings
) -> None:
    org = new_org_id()
    deal = api.create_deal(org)
    artifact = _upload(api, org, deal["id"], b"survey notes\n")
    stored = settings.data_dir / "artifacts" / org / artifact["sha256"][:2] / artifact["sha256"]
    stored.write_bytes(b"survey notez\n")
    pack = _pack(api, org, deal["id"])
    index, names = _index(pack)
    assert index[0]["included"] is False
    assert index[0]["withheld_reason"] == "the stored bytes no longer match this SHA-256"
    assert f"artifacts/{artifact['sha256']}" not in names
    assert hashlib.sha256(b"survey notez\n").hexdigest() != artifact["sha256"]
    public_key = existing_public_key(settings.data_dir)
    assert public_key is not None
    assert verify_pack(pack, public_key).ok


def test_the_kernel_refuses_roles_that_may_not_take_a_pack_and_hides_other_orgs_deals(api: KernelApi) -> None:
    org = new_org_id()
    deal = api.create_deal(org)
    path = f"/kernel/v1/orgs/{org}/deals/{deal['id']}/evidence-pack"
    for role in ("admin", "gp", "auditor"):
        assert api.http.get(path, headers=api.headers(org, role)).status_code == 200
    for role in ("analyst", "lp", "external"):
        refused = api.http.get(path, headers=api.headers(org, role))
        assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
    other = new_org_id()
    hidden = api.http.get(f"/kernel/v1/orgs/{other}/deals/{deal['id']}/evidence-pack", headers=api.headers(other))
    assert (hidden.status_code, hidden.json()["code"]) == (404, "DEAL_NOT_FOUND")

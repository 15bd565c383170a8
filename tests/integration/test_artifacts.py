"""Deal artifacts through the public API, the kernel behind it over real HTTP, on SQLite and PostgreSQL.

Upload (typed by the bytes, size-limited), list, download byte for byte; the same bytes in two
orgs are two artifacts no org can see across; bytes damaged on disk are withheld (500
``ARTIFACT_CORRUPT``) and logged; every upload is a kernel event and an audit record.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import artifact_samples as samples
from tests.integration.helpers import assert_problem, deal_history, without_request_id
from tests.support import Databases, Org, Stack, create_deal, new_org, running_stack, wait_until

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SMALL_LIMIT = 2048


def upload(client: httpx.Client, deal_id: str, filename: str, content: bytes, content_type: str = "") -> httpx.Response:
    declared = content_type or "application/octet-stream"
    return client.post(f"/api/deals/{deal_id}/artifacts", files={"file": (filename, content, declared)})


def uploaded(client: httpx.Client, deal_id: str, filename: str, content: bytes) -> dict[str, Any]:
    response = upload(client, deal_id, filename, content)
    assert response.status_code == 201, response.text
    return dict(response.json())


def stored_path(stack: Stack, org_id: str, sha256: str) -> Path:
    return stack.databases.data_dir / "artifacts" / org_id / sha256[:2] / sha256


@pytest.mark.parametrize(
    ("filename", "content", "mime_type"),
    [
        ("Offering Memorandum.pdf", samples.PDF, "application/pdf"),
        ("site.png", samples.png_1x1(), "image/png"),
        ("Lease Abstract.docx", samples.docx(), DOCX),
        ("rent-roll.csv", samples.CSV, "text/csv"),
        ("notes.txt", samples.TEXT, "text/plain"),
    ],
    ids=["pdf", "png", "docx", "csv", "text"],
)
def test_each_allowed_type_is_uploaded_listed_and_downloaded_byte_for_byte(
    org: Org, filename: str, content: bytes, mime_type: str
) -> None:
    with org.client("analyst") as analyst, org.client("auditor") as auditor:
        deal = create_deal(analyst)
        # The client's declared part type is ignored: the kernel types the bytes.
        artifact = uploaded(analyst, deal["id"], filename, content)
        assert {key: artifact[key] for key in ("filename", "size", "mime_type", "sha256", "deal_id")} == {
            "filename": filename,
            "size": len(content),
            "mime_type": mime_type,
            "sha256": hashlib.sha256(content).hexdigest(),
            "deal_id": deal["id"],
        }
        listed = auditor.get(f"/api/deals/{deal['id']}/artifacts")
        assert listed.status_code == 200, listed.text
        assert listed.json() == {"items": [artifact], "next_cursor": None}

        download = auditor.get(f"/api/artifacts/{artifact['id']}/download")
    assert download.status_code == 200, download.text
    assert download.content == content
    assert download.headers["content-type"].split(";")[0] == mime_type
    assert download.headers["content-length"] == str(len(content))
    assert download.headers["content-disposition"].startswith("attachment; ")
    assert download.headers["x-artifact-sha256"] == artifact["sha256"]
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("Q3 Report.pdf", samples.ELF),
        ("Lease.docx", samples.EXE),
        ("Rent Roll.xlsx", samples.plain_zip()),
        ("notes.txt", b"binary\x00junk"),
    ],
    ids=["elf-named-pdf", "exe-named-docx", "zip-named-xlsx", "nul-named-txt"],
)
def test_bytes_of_no_accepted_type_are_415_whatever_the_name_and_nothing_is_stored(
    org: Org, filename: str, content: bytes
) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp)
        refused = upload(gp, deal["id"], filename, content, "application/pdf")
        assert_problem(refused, 415, "UNSUPPORTED_MEDIA_TYPE")
        assert gp.get(f"/api/deals/{deal['id']}/artifacts").json()["items"] == []
    assert not stored_path(org.stack, org.org_id, hashlib.sha256(content).hexdigest()).exists()


def test_a_pdf_name_on_text_bytes_is_typed_by_the_bytes(org: Org) -> None:
    with org.client() as admin:
        deal = create_deal(admin)
        artifact = uploaded(admin, deal["id"], "statement.pdf", b"not a pdf at all\n")
        download = admin.get(f"/api/artifacts/{artifact['id']}/download")
    assert artifact["mime_type"] == "text/plain"
    assert download.headers["content-type"].startswith("text/plain")


def test_an_empty_file_or_a_form_without_the_file_is_422(org: Org) -> None:
    with org.client() as admin:
        deal = create_deal(admin)
        assert_problem(upload(admin, deal["id"], "empty.txt", b""), 422, "VALIDATION_ERROR")
        no_file = admin.post(f"/api/deals/{deal['id']}/artifacts", files={"document": ("a.txt", b"a", "text/plain")})
        body = assert_problem(no_file, 422, "VALIDATION_ERROR")
        assert "body.file" in {error["field"] for error in body["errors"]}


def test_an_upload_to_a_missing_deal_is_404(org: Org) -> None:
    with org.client() as admin:
        assert_problem(upload(admin, uuid.uuid4().hex, "notes.txt", samples.TEXT), 404, "DEAL_NOT_FOUND")


def test_the_same_bytes_in_two_orgs_are_two_artifacts_invisible_across_orgs(org: Org, other_org: Org) -> None:
    content = f"Confidential term sheet {uuid.uuid4().hex}\n".encode()
    with org.client() as admin_a, other_org.client() as admin_b:
        deal_a, deal_b = create_deal(admin_a), create_deal(admin_b)
        mine = uploaded(admin_a, deal_a["id"], "terms.txt", content)
        theirs = uploaded(admin_b, deal_b["id"], "terms.txt", content)
        assert mine["id"] != theirs["id"]
        assert mine["sha256"] == theirs["sha256"]
        # Org B reaching for org A's artifact: exactly what an id that never existed gets.
        foreign = admin_b.get(f"/api/artifacts/{mine['id']}/download")
        missing = admin_b.get(f"/api/artifacts/{uuid.uuid4().hex}/download")
        assert without_request_id(assert_problem(foreign, 404, "ARTIFACT_NOT_FOUND")) == without_request_id(
            assert_problem(missing, 404, "ARTIFACT_NOT_FOUND")
        )
        assert admin_b.get(f"/api/deals/{deal_b['id']}/artifacts").json()["items"] == [theirs]
        assert_problem(admin_b.get(f"/api/deals/{deal_a['id']}/artifacts"), 404, "DEAL_NOT_FOUND")
    # One file per org: nothing on disk is shared between tenants.
    assert stored_path(org.stack, org.org_id, mine["sha256"]).read_bytes() == content
    assert stored_path(org.stack, other_org.org_id, mine["sha256"]).read_bytes() == content


def test_the_same_bytes_twice_in_one_org_are_two_artifacts_over_one_file(org: Org) -> None:
    content = f"Survey {uuid.uuid4().hex}\n".encode()
    with org.client() as admin:
        first_deal, second_deal = create_deal(admin), create_deal(admin)
        first = uploaded(admin, first_deal["id"], "survey.txt", content)
        second = uploaded(admin, second_deal["id"], "survey-copy.txt", content)
        assert (first["sha256"], first["id"] != second["id"]) == (second["sha256"], True)
        for artifact in (first, second):
            assert admin.get(f"/api/artifacts/{artifact['id']}/download").content == content
    folder = stored_path(org.stack, org.org_id, first["sha256"]).parent
    assert [path.name for path in folder.iterdir()] == [first["sha256"]]


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_bytes_damaged_on_disk_are_withheld_with_a_500_and_logged(org: Org, damage: str) -> None:
    marker = uuid.uuid4().hex
    content = f"Wire instructions {marker}: account 000123\n".encode()
    with org.client() as admin:
        deal = create_deal(admin)
        artifact = uploaded(admin, deal["id"], "wire.txt", content)
        path = stored_path(org.stack, org.org_id, artifact["sha256"])
        tampered = content.replace(b"000123", b"999999")
        if damage == "flip":
            path.write_bytes(tampered)
        elif damage == "truncate":
            path.write_bytes(content[:10])
        else:
            path.unlink()
        response = admin.get(f"/api/artifacts/{artifact['id']}/download")
        body = assert_problem(response, 500, "ARTIFACT_CORRUPT")
        assert marker.encode() not in response.content
        assert b"999999" not in response.content
        assert b"000123" not in response.content
        assert artifact["id"] not in json.dumps(body)  # the log names it, the answer need not
        # The metadata is still readable: only the bytes are withheld.
        assert admin.get(f"/api/deals/{deal['id']}/artifacts").json()["items"] == [artifact]

    def logged() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in org.stack.kernel.log_text().splitlines() if line.startswith("{")]
        corrupt = [line for line in lines if line.get("event") == "artifact_corrupt"]
        return [line for line in corrupt if line.get("artifact_id") == artifact["id"]]

    [line] = wait_until(logged, 10, "the kernel's artifact_corrupt log line")
    assert line["level"] == "error"
    assert line["request_id"] == response.headers["x-request-id"]
    assert marker not in json.dumps(line)


def test_an_upload_appends_an_event_and_an_audit_record_without_the_content(org: Org) -> None:
    marker, request_id = uuid.uuid4().hex, f"upload-{uuid.uuid4().hex}"
    content = f"Phase I environmental report {marker}\n".encode()
    with org.client("gp") as gp:
        deal = create_deal(gp)
        response = gp.post(
            f"/api/deals/{deal['id']}/artifacts",
            files={"file": ("phase-1.txt", content, "text/plain")},
            headers={"X-Request-ID": request_id},
        )
        assert response.status_code == 201, response.text
        artifact = response.json()
        events = [event for event in deal_history(gp, deal["id"]) if event["type"] == "artifact.uploaded"]
    assert len(events) == 1
    assert events[0]["payload"] == {
        "artifact_id": artifact["id"],
        "sha256": artifact["sha256"],
        "size": len(content),
        "mime_type": "text/plain",
        "filename": "phase-1.txt",
    }
    assert events[0]["request_id"] == request_id
    assert marker not in json.dumps(events)
    with org.client("auditor") as auditor:
        [record] = auditor.get("/api/audit", params={"request_id": request_id}).json()["items"]
    assert (record["action"], record["target_type"], record["target_id"], record["status"]) == (
        "artifact.upload",
        "artifact",
        artifact["id"],
        201,
    )
    assert record["changes"]["after"]["sha256"] == artifact["sha256"]
    assert marker not in json.dumps(record)


def test_a_hostile_file_name_is_stored_sanitized_and_sent_back_safely(org: Org) -> None:
    with org.client() as admin:
        deal = create_deal(admin)
        artifact = uploaded(admin, deal["id"], "../../etc/Ren\u202et roll; x=1 \u20ac.txt", b"rows\n")
        download = admin.get(f"/api/artifacts/{artifact['id']}/download")
    assert artifact["filename"] == "Rent roll; x=1 \u20ac.txt"
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"Rent roll; x=1 _.txt\"; filename*=UTF-8''Rent%20roll%3B%20x%3D1%20%E2%82%AC.txt"
    )


@pytest.fixture(scope="module")
def small_limit_stack(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp(f"logs-artifact-limit-{databases.backend}")
    with running_stack(databases, log_dir, {"CORNERSTONE_ARTIFACT_MAX_BYTES": str(SMALL_LIMIT)}) as stack:
        yield stack


def test_a_file_over_the_limit_is_413_and_one_at_it_is_accepted(small_limit_stack: Stack) -> None:
    org = new_org(small_limit_stack)
    with org.client() as admin:
        deal = create_deal(admin)
        assert upload(admin, deal["id"], "full.txt", b"x" * SMALL_LIMIT).status_code == 201
        over = upload(admin, deal["id"], "over.txt", b"x" * (SMALL_LIMIT + 1))
        assert_problem(over, 413, "PAYLOAD_TOO_LARGE")
        # Far over: refused by the perimeter before the body is read.
        huge = upload(admin, deal["id"], "huge.txt", b"x" * (SMALL_LIMIT + 128 * 1024))
        assert_problem(huge, 413, "PAYLOAD_TOO_LARGE")
        names = [item["filename"] for item in admin.get(f"/api/deals/{deal['id']}/artifacts").json()["items"]]
    assert names == ["full.txt"]


def test_the_upload_route_alone_may_exceed_the_json_body_limit(org: Org) -> None:
    """1 MiB is the JSON limit (CORNERSTONE_MAX_BODY_BYTES); a 2 MiB file still goes through its own route."""
    content = b"line of a large rent roll\n" * (2 * 1024 * 1024 // 26)
    with org.client() as admin:
        deal = create_deal(admin)
        artifact = uploaded(admin, deal["id"], "big.txt", content)
        assert admin.get(f"/api/artifacts/{artifact['id']}/download").content == content
        too_big_json = admin.post("/api/deals", json={"name": "x" * (2 * 1024 * 1024), "asset_class": "office"})
        assert_problem(too_big_json, 413, "PAYLOAD_TOO_LARGE")

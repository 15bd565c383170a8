"""Deal evidence packs through the BFF, the kernel behind it over real HTTP, on SQLite and PostgreSQL:
the same records give the same bytes, the pack verifies offline (in process and with the
`cornerstone evidence` command), an event edited in the database is named by its seq, and only
admin, gp and auditor may take a pack."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from cornerstone.kernel.evidence_pack.signing import existing_public_key
from cornerstone.kernel.evidence_pack.verify import verify_pack
from cornerstone.kit.canonical import canonical_json
from tests.integration.helpers import assert_problem
from tests.support import Org, Stack, append_only_lifted, create_deal, supply_material, sync_engine, walk


def _evidence_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORNERSTONE_")}
    return subprocess.run(
        [sys.executable, "-m", "cornerstone", "evidence", *args, "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _deal_with_evidence(org: Org) -> dict[str, Any]:
    """A deal taken to PSA with HUMAN materials and IC approvals, DOC materials backed by uploaded
    PDFs, a denial that was withdrawn, and a diligence item done."""
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Evidence Plaza", purchase_price=18_500_000_00)
    deal = walk(org, deal, "underwriting", "ic_review")
    with org.client("gp") as gp:
        denial = gp.post(f"/api/deals/{deal['id']}/approvals", json={"to": "loi", "decision": "deny"})
        assert denial.status_code == 201, denial.text
        withdrawn = gp.post(f"/api/approvals/{denial.json()['id']}/withdraw")
        assert withdrawn.status_code == 200, withdrawn.text
    deal = walk(org, deal, "loi")
    with org.client("gp") as gp:
        supply_material(gp, deal["id"], "title_report", "DOC")
    deal = walk(org, deal, "psa")
    with org.client("gp") as gp:
        first_item = gp.get(f"/api/deals/{deal['id']}/checklist").json()["items"][0]
        done = gp.patch(f"/api/checklist-items/{first_item['id']}", json={"status": "done"})
        assert done.status_code == 200, done.text
    return deal


def _download(client: httpx.Client, deal_id: str) -> bytes:
    response = client.get(f"/api/deals/{deal_id}/evidence-pack")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert int(response.headers["content-length"]) == len(response.content)
    return response.content


def _members(pack: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(pack)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_a_pack_is_the_same_bytes_twice_and_verifies_offline(org: Org, stack: Stack, tmp_path: Path) -> None:
    deal = _deal_with_evidence(org)
    with org.client("auditor") as auditor:
        first = _download(auditor, deal["id"])
        second = _download(auditor, deal["id"])
        history = auditor.get(f"/api/deals/{deal['id']}/history", params={"limit": 200}).json()["items"]
    assert first == second

    data_dir = stack.databases.data_dir
    public_key = existing_public_key(data_dir)
    assert public_key is not None
    report = verify_pack(first, public_key)
    assert report.problems == []
    assert report.deal_id == deal["id"]
    assert report.org_id == org.org_id

    members = _members(first)
    manifest = json.loads(members["manifest.json"])
    events = [json.loads(line) for line in members["events.jsonl"].decode().splitlines()]
    assert [event["id"] for event in events] == [event["id"] for event in history]
    assert manifest["chain_head"]["seq"] >= events[-1]["seq"]
    assert json.loads(members["deal.json"])["stage"] == "psa"
    materials = json.loads(members["materials.json"])
    assert {material["type"] for material in materials} >= {"rent_roll", "t12", "title_report"}
    approvals = json.loads(members["approvals.json"])
    assert any(a["decision"] == "deny" and a["withdrawn_at"] is not None for a in approvals)
    assert sum(a["decision"] == "approve" for a in approvals) >= 2
    index = json.loads(members["artifacts.json"])
    assert index
    assert all(entry["included"] for entry in index)
    for entry in index:
        included = members["artifacts/" + entry["sha256"]]
        assert hashlib.sha256(included).hexdigest() == entry["sha256"]
    checklist = json.loads(members["checklist.json"])
    first_item = [revision for revision in checklist if revision["id"] == checklist[0]["id"]]
    assert [(r["revision"], r["status"]) for r in first_item] == [(1, "open"), (2, "done")]
    assert len({revision["id"] for revision in checklist}) == len(checklist) - 1

    pack_path = tmp_path / "pack.zip"
    pack_path.write_bytes(first)
    verified = _evidence_cli("verify", str(pack_path), data_dir=data_dir)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith(f"ok: deal {deal['id']} of org {org.org_id}")

    exported = _evidence_cli("public-key", data_dir=data_dir)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    key_path = tmp_path / "signer.pem"
    key_path.write_text(exported.stdout)
    elsewhere = tmp_path / "another-data-dir"  # verifying elsewhere needs only the pack and the PEM
    with_key = _evidence_cli("verify", str(pack_path), "--public-key", str(key_path), data_dir=elsewhere)
    assert with_key.returncode == 0, with_key.stdout + with_key.stderr
    without_key = _evidence_cli("verify", str(pack_path), data_dir=elsewhere)
    assert without_key.returncode == 2
    assert "--public-key" in without_key.stderr


def test_a_damaged_member_or_a_file_that_is_not_a_zip_fails_the_command(org: Org, stack: Stack, tmp_path: Path) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Damaged Copy")
        supply_material(gp, deal["id"], "rent_roll", "DOC")
        pack = _download(gp, deal["id"])
    members = _members(pack)
    artifact = next(name for name in members if name.startswith("artifacts/"))
    damaged = bytearray(members[artifact])
    damaged[len(damaged) // 2] ^= 0x01
    members[artifact] = bytes(damaged)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(members.items()):
            archive.writestr(name, data)
    path = tmp_path / "damaged.zip"
    path.write_bytes(buffer.getvalue())
    result = _evidence_cli("verify", str(path), data_dir=stack.databases.data_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"BAD  {artifact}: SHA-256 differs from the manifest" in result.stdout.splitlines()
    assert f"BAD  {artifact}: bytes do not hash to their name" in result.stdout.splitlines()

    not_a_zip = tmp_path / "notes.zip"
    not_a_zip.write_bytes(b"just some text\n")
    refused = _evidence_cli("verify", str(not_a_zip), data_dir=stack.databases.data_dir)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: ")
    assert "not a zip file" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_an_event_edited_in_the_database_fails_the_rebuilt_pack_naming_its_seq(
    org: Org, stack: Stack, tmp_path: Path
) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Edited Afterwards", purchase_price=12_000_000_00)
        supply_material(gp, deal["id"], "rent_roll", "HUMAN")
        supply_material(gp, deal["id"], "t12", "HUMAN")
        clean = _download(gp, deal["id"])
        history = gp.get(f"/api/deals/{deal['id']}/history", params={"limit": 200}).json()["items"]
    public_key = existing_public_key(stack.databases.data_dir)
    assert public_key is not None
    assert verify_pack(clean, public_key).ok

    edited = next(event for event in history if event["type"] == "deal.created")
    engine = sync_engine(stack.databases.kernel_url)
    try:
        with append_only_lifted(engine, "events") as conn:
            payload = canonical_json({**edited["payload"], "purchase_price": 1})
            changed = conn.execute(
                text("UPDATE events SET payload = :payload WHERE org_id = :org AND seq = :seq"),
                {"payload": payload, "org": org.org_id, "seq": edited["seq"]},
            )
            assert changed.rowcount == 1
    finally:
        engine.dispose()

    with org.client("auditor") as auditor:
        rebuilt = _download(auditor, deal["id"])
    expected = f"events.jsonl: event seq {edited['seq']}: stored hash does not match the recomputed hash"
    assert verify_pack(rebuilt, public_key).problems == [expected]
    path = tmp_path / "rebuilt.zip"
    path.write_bytes(rebuilt)
    result = _evidence_cli("verify", str(path), data_dir=stack.databases.data_dir)
    assert result.returncode == 1
    assert result.stdout == f"BAD  {expected}\n"


def test_only_admin_gp_and_auditor_may_take_a_pack(org: Org, other_org: Org) -> None:
    with org.client("gp") as gp:
        deal = create_deal(gp, name="Who May Look")
    path = f"/api/deals/{deal['id']}/evidence-pack"
    for role in ("admin", "gp", "auditor"):
        with org.client(role) as client:
            assert client.get(path).status_code == 200, role
    for role in ("analyst", "lp"):
        with org.client(role) as client:
            assert_problem(client.get(path), 403, "FORBIDDEN")
    # An external party is refused even on a deal they are a party to.
    with org.client(org.lender(deal["id"])) as lender:
        assert lender.get(f"/api/deals/{deal['id']}").status_code == 200
        assert_problem(lender.get(path), 403, "FORBIDDEN")
    with org.client() as admin:
        missing = admin.get("/api/deals/0123456789abcdef0123456789abcdef/evidence-pack")
        assert_problem(missing, 404)
    with other_org.client() as intruder:
        assert_problem(intruder.get(path), 404)

"""Evidence packs without I/O: the same content gives the same bytes, and any change to any member,
a wrong key, or a missing or extra member is caught and named by the offline verifier."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cornerstone.kernel.events.chain import GENESIS_HASH, ChainedFields, event_hash
from cornerstone.kernel.evidence_pack.pack import (
    MANIFEST,
    SIGNATURE,
    ZIP_EPOCH,
    ChainHead,
    PackContent,
    build_pack,
    write_zip,
)
from cornerstone.kernel.evidence_pack.signing import PackSigner, key_id, load_public_key_pem, public_key_pem
from cornerstone.kernel.evidence_pack.verify import NotAPack, verify_pack
from cornerstone.kit.canonical import canonical_json
from cornerstone.kit.clock import isoformat_utc

ORG, DEAL = "org_pack", "deal_pack"
DOCUMENT = b"%PDF-1.7 rent roll\n"
BIG_DOCUMENT_SHA = "f" * 64
SIGNER = PackSigner(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))


def _chain(count: int, *, other_subject_at: frozenset[int] = frozenset({3})) -> list[dict[str, Any]]:
    """An org's chain of ``count`` events; those at ``other_subject_at`` concern another deal."""
    events, prev = [], GENESIS_HASH
    start = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    for seq in range(1, count + 1):
        created_at = start + timedelta(minutes=seq, microseconds=seq)
        subject = "deal_other" if seq in other_subject_at else DEAL
        fields = ChainedFields(
            id=f"evt{seq}",
            org_id=ORG,
            seq=seq,
            type="deal.updated",
            subject_type="deal",
            subject_id=subject,
            payload=canonical_json({"step": seq, "note": "naïve café"}),
            actor_id="user_gp",
            actor_role="gp",
            request_id=f"req-{seq}" if seq % 2 else None,
            prev_hash=prev,
            created_at=created_at,
        )
        digest = event_hash(fields)
        events.append(
            {
                "id": fields.id,
                "org_id": ORG,
                "seq": seq,
                "type": fields.type,
                "subject_type": "deal",
                "subject_id": subject,
                "payload": fields.payload,
                "actor_id": fields.actor_id,
                "actor_role": fields.actor_role,
                "request_id": fields.request_id,
                "prev_hash": prev,
                "hash": digest,
                "created_at": isoformat_utc(created_at),
            }
        )
        prev = digest
    return events


def _content(events: list[dict[str, Any]] | None = None) -> PackContent:
    chain = events or _chain(5)
    head = chain[-1]
    sha = hashlib.sha256(DOCUMENT).hexdigest()
    return PackContent(
        org_id=ORG,
        deal_id=DEAL,
        chain_head=ChainHead(seq=head["seq"], hash=head["hash"], created_at=head["created_at"]),
        deal={"id": DEAL, "name": "Harbor View", "stage": "underwriting", "version": 3},
        events=[event for event in chain if event["subject_id"] == DEAL],
        materials=[{"id": "mat1", "type": "rent_roll", "revision": 1, "truth_class": "DOC", "artifact_sha256": sha}],
        approvals=[{"id": "apr1", "decision": "approve", "withdrawn_at": None}],
        overrides=[],
        checklist=[],
        artifacts=[
            {"id": "art1", "sha256": sha, "size": len(DOCUMENT), "included": True, "withheld_reason": None},
            {"id": "art2", "sha256": BIG_DOCUMENT_SHA, "size": 10**9, "included": False, "withheld_reason": "cap"},
        ],
        artifact_bytes={sha: DOCUMENT},
    )


def _members(pack: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(pack)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rezip(members: dict[str, bytes]) -> bytes:
    return write_zip(members)


def _problems(pack: bytes, signer: PackSigner = SIGNER) -> list[str]:
    return verify_pack(pack, signer.public_key).problems


def test_the_same_content_gives_byte_identical_packs() -> None:
    first, second = build_pack(_content(), SIGNER), build_pack(_content(), SIGNER)
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    assert {info.date_time for info in infos} == {ZIP_EPOCH}
    assert {info.compress_type for info in infos} == {zipfile.ZIP_DEFLATED}


def test_a_pack_verifies_and_its_manifest_describes_it() -> None:
    pack = build_pack(_content(), SIGNER)
    report = verify_pack(pack, SIGNER.public_key)
    assert report.problems == []
    assert report.ok
    assert report.events == 4  # seq 3 concerns another deal and is not in the pack
    members = _members(pack)
    manifest = json.loads(members[MANIFEST])
    assert manifest["format"] == "cornerstone-evidence-pack/1"
    assert manifest["chain_head"] == {"seq": 5, "hash": _chain(5)[-1]["hash"]}
    assert manifest["generated_at"] == _chain(5)[-1]["created_at"]
    assert manifest["key_id"] == SIGNER.key_id == key_id(SIGNER.public_key)
    listed = {entry["name"]: entry for entry in manifest["files"]}
    assert set(listed) == set(members) - {MANIFEST, SIGNATURE}
    assert "artifacts/" + hashlib.sha256(DOCUMENT).hexdigest() in listed
    assert "artifacts/" + BIG_DOCUMENT_SHA not in listed
    for name, entry in listed.items():
        assert entry == {"name": name, "sha256": hashlib.sha256(members[name]).hexdigest(), "size": len(members[name])}
    assert members[MANIFEST].endswith(b"\n")
    SIGNER.public_key.verify(base64.b64decode(members[SIGNATURE]), members[MANIFEST])


def test_the_public_key_pem_round_trips() -> None:
    pem = public_key_pem(SIGNER.public_key)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert key_id(load_public_key_pem(pem.encode())) == SIGNER.key_id


@pytest.mark.parametrize(
    "name",
    [
        MANIFEST,
        SIGNATURE,
        "deal.json",
        "events.jsonl",
        "materials.json",
        "approvals.json",
        "overrides.json",
        "checklist.json",
        "artifacts.json",
        "artifacts/" + hashlib.sha256(DOCUMENT).hexdigest(),
    ],
)
@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_flipping_one_byte_of_any_member_fails_naming_it(name: str, position: str) -> None:
    members = _members(build_pack(_content(), SIGNER))
    data = bytearray(members[name])
    index = {"first": 0, "middle": len(data) // 2, "last": len(data) - 2}[position]
    data[index] ^= 0x01
    members[name] = bytes(data)
    problems = _problems(_rezip(members))
    assert problems, f"flipping byte {index} of {name} went unnoticed"
    assert any(problem.startswith(name) or f" {name} " in problem for problem in problems), problems


def test_flipping_a_byte_of_the_zip_itself_is_caught() -> None:
    pack = bytearray(build_pack(_content(), SIGNER))
    with zipfile.ZipFile(io.BytesIO(bytes(pack))) as archive:
        info = archive.getinfo("events.jsonl")
    # The member's compressed data begins after its 30-byte local header, name and extra field.
    offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 5
    pack[offset] ^= 0x01
    problems = _problems(bytes(pack))
    assert any(problem.startswith("events.jsonl") for problem in problems), problems


def test_an_edited_event_rebuilt_into_a_new_signed_pack_is_named_by_its_seq() -> None:
    chain = _chain(6)
    chain[3]["payload"] = canonical_json({"step": 4, "note": "edited afterwards"})  # seq 4, hash left as stored
    problems = _problems(build_pack(_content(chain), SIGNER))
    assert problems == ["events.jsonl: event seq 4: stored hash does not match the recomputed hash"]


def test_a_relinked_chain_is_caught_at_the_link() -> None:
    chain = _chain(6)
    chain[4]["prev_hash"] = "a" * 64
    problems = _problems(build_pack(_content(chain), SIGNER))
    assert "events.jsonl: event seq 5: prev_hash is not the hash of event seq 4" in problems


def test_events_past_the_head_or_out_of_order_are_caught() -> None:
    chain = _chain(6)
    content = _content(chain)
    short_head = PackContent(**{**content.__dict__, "chain_head": ChainHead(5, chain[4]["hash"], "x")})
    assert "events.jsonl: event seq 6: beyond the chain head (seq 5)" in _problems(build_pack(short_head, SIGNER))
    swapped = PackContent(**{**content.__dict__, "events": list(reversed(content.events))})
    assert any("sequence does not increase" in problem for problem in _problems(build_pack(swapped, SIGNER)))
    wrong_head = PackContent(**{**content.__dict__, "chain_head": ChainHead(6, "b" * 64, "x")})
    assert "events.jsonl: event seq 6: is the chain head but its hash differs from the manifest's" in _problems(
        build_pack(wrong_head, SIGNER)
    )


def test_another_key_fails_the_signature_naming_both_keys() -> None:
    other = PackSigner(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))
    problems = _problems(build_pack(_content(), SIGNER), other)
    assert problems == [
        f"manifest.sig: the signature over manifest.json does not verify with key {other.key_id} "
        f"(the manifest names key {SIGNER.key_id})"
    ]


def test_a_missing_or_an_extra_member_is_named() -> None:
    members = _members(build_pack(_content(), SIGNER))
    without = {name: data for name, data in members.items() if name != "approvals.json"}
    assert _problems(_rezip(without)) == ["approvals.json: missing member (listed in the manifest)"]
    extra = {**members, "notes.txt": b"slipped in\n"}
    assert _problems(_rezip(extra)) == ["notes.txt: unexpected member (not in the manifest)"]
    no_signature = {name: data for name, data in members.items() if name != SIGNATURE}
    assert _problems(_rezip(no_signature)) == ["manifest.sig: missing member"]
    no_manifest = {name: data for name, data in members.items() if name != MANIFEST}
    assert _problems(_rezip(no_manifest)) == ["manifest.json: missing member"]


def test_something_that_is_not_a_zip_is_refused() -> None:
    with pytest.raises(NotAPack):
        verify_pack(b"PK\x03\x04 not really", SIGNER.public_key)

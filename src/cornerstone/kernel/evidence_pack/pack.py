"""Building an evidence pack from content already gathered: pure, no I/O, byte-for-byte deterministic.

The same content always gives the same zip: members in sorted order, every entry with the same
timestamp (1980-01-01, the zip epoch), permissions and compression, JSON with sorted keys and a
trailing newline, and a deterministic (Ed25519) signature. ``generated_at`` is the time of the
org's chain head the pack reflects, never the wall clock, so rebuilding an unchanged database
reproduces the pack exactly.

Members:

- ``manifest.json``: format, org, deal, ``generated_at``, the chain head, the signing key's id,
  and name, SHA-256 and size of every other member but ``manifest.sig``;
- ``manifest.sig``: base64 Ed25519 signature of ``manifest.json``'s exact bytes;
- ``deal.json``, ``materials.json`` (every revision), ``approvals.json`` (withdrawn ones too),
  ``overrides.json``, ``checklist.json``, ``artifacts.json`` (the index, each entry saying
  whether its bytes are included);
- ``events.jsonl``: the deal's events, one per line, with every field the hash covers;
- ``artifacts/<sha256>``: an artifact's bytes, when within the size caps.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cornerstone.kernel.evidence_pack.signing import PackSigner
from cornerstone.kit.canonical import canonical_json

FORMAT = "cornerstone-evidence-pack/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
DEAL = "deal.json"
EVENTS = "events.jsonl"
MATERIALS = "materials.json"
APPROVALS = "approvals.json"
OVERRIDES = "overrides.json"
CHECKLIST = "checklist.json"
ARTIFACTS = "artifacts.json"
ARTIFACT_DIR = "artifacts/"

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644 << 16  # a regular file, rw-r--r--
_UNIX = 3
_COMPRESS_LEVEL = 6

# The fields of an event as they appear in events.jsonl: everything the chain hash covers, and the hash.
EVENT_FIELDS = (
    "id",
    "org_id",
    "seq",
    "type",
    "subject_type",
    "subject_id",
    "payload",
    "actor_id",
    "actor_role",
    "request_id",
    "prev_hash",
    "hash",
    "created_at",
)


@dataclass(frozen=True)
class ChainHead:
    """The org's latest event when the pack was gathered: the pack reflects the log up to here."""

    seq: int
    hash: str
    created_at: str


@dataclass(frozen=True)
class PackContent:
    """Everything a pack holds, in JSON form. ``events`` are dicts with ``EVENT_FIELDS`` (``payload``
    the stored canonical text, ``created_at`` RFC 3339 with microseconds); ``artifact_bytes`` maps
    a SHA-256 to the bytes included for it."""

    org_id: str
    deal_id: str
    chain_head: ChainHead
    deal: Mapping[str, Any]
    events: Sequence[Mapping[str, Any]]
    materials: Sequence[Mapping[str, Any]]
    approvals: Sequence[Mapping[str, Any]]
    overrides: Sequence[Mapping[str, Any]]
    checklist: Sequence[Mapping[str, Any]]
    artifacts: Sequence[Mapping[str, Any]]
    artifact_bytes: Mapping[str, bytes] = field(default_factory=dict)


def json_member(value: Any) -> bytes:
    """A JSON document as a member: sorted keys, two-space indent, UTF-8, one trailing newline."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def events_member(events: Sequence[Mapping[str, Any]]) -> bytes:
    return b"".join(
        (canonical_json({name: event[name] for name in EVENT_FIELDS}) + "\n").encode("utf-8") for event in events
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_members(content: PackContent) -> dict[str, bytes]:
    """Every member but the manifest and its signature."""
    members = {
        DEAL: json_member(content.deal),
        EVENTS: events_member(content.events),
        MATERIALS: json_member(list(content.materials)),
        APPROVALS: json_member(list(content.approvals)),
        OVERRIDES: json_member(list(content.overrides)),
        CHECKLIST: json_member(list(content.checklist)),
        ARTIFACTS: json_member(list(content.artifacts)),
    }
    for sha256, data in content.artifact_bytes.items():
        members[ARTIFACT_DIR + sha256] = data
    return members


def manifest_for(content: PackContent, members: Mapping[str, bytes], key_id: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "org_id": content.org_id,
        "deal_id": content.deal_id,
        "generated_at": content.chain_head.created_at,
        "chain_head": {"seq": content.chain_head.seq, "hash": content.chain_head.hash},
        "key_id": key_id,
        "files": [
            {"name": name, "sha256": sha256_hex(members[name]), "size": len(members[name])} for name in sorted(members)
        ],
    }


def write_zip(members: Mapping[str, bytes]) -> bytes:
    """The members as a zip whose bytes depend only on the names and contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = _FILE_MODE
            info.create_system = _UNIX
            archive.writestr(info, members[name], compresslevel=_COMPRESS_LEVEL)
    return buffer.getvalue()


def build_pack(content: PackContent, signer: PackSigner) -> bytes:
    members = content_members(content)
    manifest = json_member(manifest_for(content, members, signer.key_id))
    members[MANIFEST] = manifest
    members[SIGNATURE] = base64.b64encode(signer.sign(manifest)) + b"\n"
    return write_zip(members)

"""Verifying an evidence pack offline: pure, needs only the pack's bytes and the signer's public key.

Every check runs and every problem is reported (not just the first), each naming the member and,
for events, the sequence number that broke:

1. ``manifest.sig`` is a valid Ed25519 signature of ``manifest.json``'s exact bytes;
2. the zip holds exactly the members the manifest lists (plus the manifest and its signature);
3. each member has the SHA-256 and size the manifest gives;
4. ``events.jsonl``: every event's hash recomputed from its fields, sequence numbers strictly
   increasing, each ``prev_hash`` the previous event's hash where the two are consecutive (the
   genesis hash for event 1), every event of the manifest's org and deal, none past the chain
   head, and the head's hash where the last event is the head;
5. ``artifacts/<sha256>``: the bytes hash to their name, and every artifact the index says is
   included is there.

Members are read no further than the size the manifest gives, so a forged pack cannot make the
verifier inflate an arbitrarily large member.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cornerstone.kernel.events.chain import GENESIS_HASH, ChainedFields, event_hash
from cornerstone.kernel.evidence_pack.pack import (
    ARTIFACT_DIR,
    ARTIFACTS,
    EVENT_FIELDS,
    EVENTS,
    FORMAT,
    MANIFEST,
    SIGNATURE,
)
from cornerstone.kernel.evidence_pack.signing import key_id

MANIFEST_MAX_BYTES = 16 * 1024 * 1024
_SIGNATURE_MAX_BYTES = 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


class NotAPack(Exception):
    """The file cannot be read as a zip at all."""


@dataclass
class PackReport:
    problems: list[str] = field(default_factory=list)
    org_id: str | None = None
    deal_id: str | None = None
    key_id: str | None = None
    chain_head_seq: int | None = None
    files: int = 0
    events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return (
            f"deal {self.deal_id} of org {self.org_id}: signature by key {self.key_id}, {self.files} files and "
            f"{self.events} events verified up to chain seq {self.chain_head_seq}"
        )


def _read(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of a member: enough to see it is too long, never a zip bomb."""
    with archive.open(name) as member:
        return member.read(limit + 1)


def _readable(archive: zipfile.ZipFile, name: str, limit: int, report: PackReport) -> bytes | None:
    try:
        return _read(archive, name, limit)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
        report.problems.append(f"{name}: unreadable member ({exc})")
        return None


def verify_pack(data: bytes, public_key: Ed25519PublicKey) -> PackReport:
    """Check ``data`` (a pack's bytes) against ``public_key``; ``NotAPack`` if it is not a zip."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise NotAPack(f"not a zip file ({exc})") from None
    report = PackReport(key_id=key_id(public_key))
    with archive:
        names = [info.filename for info in archive.infolist()]
        for name in sorted({name for name in names if names.count(name) > 1}):
            report.problems.append(f"{name}: member appears more than once")
        present = set(names)
        if MANIFEST not in present:
            report.problems.append(f"{MANIFEST}: missing member")
            return report
        manifest_bytes = _readable(archive, MANIFEST, MANIFEST_MAX_BYTES, report)
        if manifest_bytes is None:
            return report
        if len(manifest_bytes) > MANIFEST_MAX_BYTES:
            report.problems.append(f"{MANIFEST}: larger than {MANIFEST_MAX_BYTES} bytes")
            return report
        manifest = _parse_manifest(manifest_bytes, report)
        _check_signature(archive, present, manifest_bytes, manifest, public_key, report)
        if manifest is None:
            return report
        listed: dict[str, dict[str, Any]] = {entry["name"]: entry for entry in manifest["files"]}
        for name in sorted(listed.keys() - present):
            report.problems.append(f"{name}: missing member (listed in the manifest)")
        for name in sorted(present - listed.keys() - {MANIFEST, SIGNATURE}):
            report.problems.append(f"{name}: unexpected member (not in the manifest)")
        contents: dict[str, bytes] = {}
        for name in sorted(listed.keys() & present):
            entry = listed[name]
            content = _readable(archive, name, entry["size"], report)
            if content is None:
                continue
            if len(content) != entry["size"]:
                report.problems.append(f"{name}: size differs from the manifest")
            if hashlib.sha256(content).hexdigest() != entry["sha256"]:
                report.problems.append(f"{name}: SHA-256 differs from the manifest")
            contents[name] = content
        report.files = len(contents)
        if EVENTS in contents:
            _check_events(contents[EVENTS], manifest, report)
        _check_artifacts(contents, report)
    return report


def _parse_manifest(manifest_bytes: bytes, report: PackReport) -> dict[str, Any] | None:
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        report.problems.append(f"{MANIFEST}: not valid JSON")
        return None
    problem = _manifest_shape_problem(manifest)
    if problem:
        report.problems.append(f"{MANIFEST}: {problem}")
        return None
    report.org_id, report.deal_id = manifest["org_id"], manifest["deal_id"]
    report.chain_head_seq = manifest["chain_head"]["seq"]
    return dict(manifest)


def _manifest_shape_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict):
        return "not a JSON object"
    if manifest.get("format") != FORMAT:
        return f"format is not {FORMAT}"
    for name in ("org_id", "deal_id", "generated_at", "key_id"):
        if not isinstance(manifest.get(name), str):
            return f"{name} is missing or not a string"
    head = manifest.get("chain_head")
    if not (isinstance(head, dict) and _is_int(head.get("seq")) and isinstance(head.get("hash"), str)):
        return "chain_head is not {seq, hash}"
    files = manifest.get("files")
    if not isinstance(files, list):
        return "files is not a list"
    seen: set[str] = set()
    for entry in files:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("sha256"), str)
            and _is_int(entry.get("size"))
            and entry["size"] >= 0
        ):
            return "a files entry is not {name, sha256, size}"
        if entry["name"] in seen or entry["name"] in {MANIFEST, SIGNATURE}:
            return f"files lists {entry['name']} twice or lists the manifest itself"
        seen.add(entry["name"])
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_signature(
    archive: zipfile.ZipFile,
    present: set[str],
    manifest_bytes: bytes,
    manifest: dict[str, Any] | None,
    public_key: Ed25519PublicKey,
    report: PackReport,
) -> None:
    if SIGNATURE not in present:
        report.problems.append(f"{SIGNATURE}: missing member")
        return
    raw = _readable(archive, SIGNATURE, _SIGNATURE_MAX_BYTES, report)
    if raw is None:
        return
    try:
        signature = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        report.problems.append(f"{SIGNATURE}: not base64")
        return
    try:
        public_key.verify(signature, manifest_bytes)
    except InvalidSignature:
        named = manifest.get("key_id") if manifest else None
        hint = f" (the manifest names key {named})" if named and named != report.key_id else ""
        report.problems.append(
            f"{SIGNATURE}: the signature over {MANIFEST} does not verify with key {report.key_id}{hint}"
        )


def _check_events(content: bytes, manifest: dict[str, Any], report: PackReport) -> None:
    head_seq, head_hash = manifest["chain_head"]["seq"], manifest["chain_head"]["hash"]
    previous: dict[str, Any] | None = None
    try:
        lines = content.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        report.problems.append(f"{EVENTS}: not UTF-8")
        return
    for number, line in enumerate(lines, start=1):
        event = _parse_event(line)
        if event is None:
            report.problems.append(f"{EVENTS}: line {number}: not an event with every chained field")
            continue
        where = f"{EVENTS}: event seq {event['seq']}"
        report.events += 1
        if _recomputed_hash(event) != event["hash"]:
            report.problems.append(f"{where}: stored hash does not match the recomputed hash")
        if event["org_id"] != manifest["org_id"] or event["subject_id"] != manifest["deal_id"]:
            report.problems.append(f"{where}: not an event of this org and deal")
        if event["seq"] > head_seq:
            report.problems.append(f"{where}: beyond the chain head (seq {head_seq})")
        if event["seq"] == head_seq and event["hash"] != head_hash:
            report.problems.append(f"{where}: is the chain head but its hash differs from the manifest's")
        if event["seq"] == 1 and event["prev_hash"] != GENESIS_HASH:
            report.problems.append(f"{where}: the first event does not link to the genesis hash")
        if previous is not None:
            if event["seq"] <= previous["seq"]:
                report.problems.append(f"{where}: sequence does not increase (after seq {previous['seq']})")
            elif event["seq"] == previous["seq"] + 1 and event["prev_hash"] != previous["hash"]:
                report.problems.append(f"{where}: prev_hash is not the hash of event seq {previous['seq']}")
        previous = event


def _parse_event(line: str) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or set(event) != set(EVENT_FIELDS) or not _is_int(event["seq"]):
        return None
    strings = [name for name in EVENT_FIELDS if name not in {"seq", "request_id"}]
    if not all(isinstance(event[name], str) for name in strings):
        return None
    if event["request_id"] is not None and not isinstance(event["request_id"], str):
        return None
    return event


def _recomputed_hash(event: dict[str, Any]) -> str | None:
    try:
        created_at = datetime.strptime(event["created_at"], _TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        return None
    return event_hash(
        ChainedFields(
            id=event["id"],
            org_id=event["org_id"],
            seq=event["seq"],
            type=event["type"],
            subject_type=event["subject_type"],
            subject_id=event["subject_id"],
            payload=event["payload"],
            actor_id=event["actor_id"],
            actor_role=event["actor_role"],
            request_id=event["request_id"],
            prev_hash=event["prev_hash"],
            created_at=created_at,
        )
    )


def _check_artifacts(contents: dict[str, bytes], report: PackReport) -> None:
    for name, content in contents.items():
        if name.startswith(ARTIFACT_DIR):
            digest = name.removeprefix(ARTIFACT_DIR)
            if not _SHA256.match(digest) or hashlib.sha256(content).hexdigest() != digest:
                report.problems.append(f"{name}: bytes do not hash to their name")
    if ARTIFACTS not in contents:
        return
    try:
        index = json.loads(contents[ARTIFACTS].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        report.problems.append(f"{ARTIFACTS}: not valid JSON")
        return
    if not isinstance(index, list):
        report.problems.append(f"{ARTIFACTS}: not a list")
        return
    for entry in index:
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            report.problems.append(f"{ARTIFACTS}: an entry has no sha256")
            continue
        member = ARTIFACT_DIR + entry["sha256"]
        if entry.get("included") is True and member not in contents:
            report.problems.append(f"{ARTIFACTS}: artifact {entry.get('id')} is marked included but {member} is absent")

"""Artifact bytes on disk: atomic, content-addressed per org, verified whole before they are handed out."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from cornerstone.kernel.artifacts.storage import ArtifactCorrupt, ArtifactStorage
from cornerstone.kit.request_body import PayloadTooLarge

ORG = "a" * 32


async def _chunks(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _put(storage: ArtifactStorage, content: bytes, org: str = ORG) -> str:
    async def run() -> str:
        staged = await storage.stage(org, _chunks([content[:3], content[3:]]))
        await storage.store(org, staged)
        return staged.sha256

    return asyncio.run(run())


def _read(storage: ArtifactStorage, sha256: str, size: int, org: str = ORG) -> bytes:
    async def run() -> bytes:
        content = await storage.open_verified(org, sha256, size)
        return b"".join([chunk async for chunk in content.chunks()])

    return asyncio.run(run())


def test_bytes_are_stored_by_sha256_per_org_and_read_back(tmp_path: Path) -> None:
    storage = ArtifactStorage(tmp_path / "artifacts", max_bytes=1000)
    content = b"rent roll, June"
    sha256 = _put(storage, content)
    assert sha256 == hashlib.sha256(content).hexdigest()
    path = tmp_path / "artifacts" / ORG / sha256[:2] / sha256
    assert path.read_bytes() == content
    assert _read(storage, sha256, len(content)) == content
    assert list((tmp_path / "artifacts" / ORG / "tmp").iterdir()) == []  # nothing left staged


def test_the_same_bytes_are_one_file_in_an_org_and_separate_files_in_two(tmp_path: Path) -> None:
    storage = ArtifactStorage(tmp_path, max_bytes=1000)
    other = "b" * 32
    sha256 = _put(storage, b"same bytes")
    assert _put(storage, b"same bytes") == sha256
    assert _put(storage, b"same bytes", org=other) == sha256
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == [f"{org}/{sha256[:2]}/{sha256}" for org in (ORG, other)]


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"rent roll, JUNE"),  # same size, other bytes
        lambda path: path.write_bytes(b"rent roll"),  # shorter
        lambda path: path.unlink(),  # gone
    ],
    ids=["flipped", "truncated", "missing"],
)
def test_damaged_bytes_are_refused_before_any_is_handed_out(tmp_path: Path, damage: object) -> None:
    storage = ArtifactStorage(tmp_path, max_bytes=1000)
    content = b"rent roll, June"
    sha256 = _put(storage, content)
    damage(storage.path_of(ORG, sha256))  # type: ignore[operator]
    with pytest.raises(ArtifactCorrupt) as refused:
        _read(storage, sha256, len(content))
    assert (refused.value.status, refused.value.code) == (500, "ARTIFACT_CORRUPT")
    with pytest.raises(ArtifactCorrupt):
        asyncio.run(storage.verify(ORG, sha256, len(content)))


def test_storing_the_same_bytes_again_heals_a_damaged_copy(tmp_path: Path) -> None:
    storage = ArtifactStorage(tmp_path, max_bytes=1000)
    sha256 = _put(storage, b"original")
    storage.path_of(ORG, sha256).write_bytes(b"tampered")
    _put(storage, b"original")
    assert _read(storage, sha256, len(b"original")) == b"original"


def test_a_stream_past_the_limit_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    storage = ArtifactStorage(tmp_path, max_bytes=10)
    with pytest.raises(PayloadTooLarge):
        asyncio.run(storage.stage(ORG, _chunks([b"123456", b"78901"])))
    assert list((tmp_path / ORG / "tmp").iterdir()) == []
    staged = asyncio.run(storage.stage(ORG, _chunks([b"123456", b"7890"])))
    assert staged.size == 10
    staged.discard()


@pytest.mark.parametrize(("org", "sha256"), [("../escape", "0" * 64), (ORG, "../../x"), (ORG, "A" * 64)])
def test_paths_are_built_only_from_an_org_id_and_a_hex_digest(tmp_path: Path, org: str, sha256: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        ArtifactStorage(tmp_path, max_bytes=10).path_of(org, sha256)


def test_staged_files_are_private_to_the_service(tmp_path: Path) -> None:
    storage = ArtifactStorage(tmp_path, max_bytes=100)
    sha256 = _put(storage, b"private")
    assert os.stat(storage.path_of(ORG, sha256)).st_mode & 0o077 == 0

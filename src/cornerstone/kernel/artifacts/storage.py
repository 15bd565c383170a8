"""Artifact bytes on disk, content-addressed per org.

Layout: ``<data_dir>/artifacts/<org_id>/<sha256[:2]>/<sha256>``; uploads are staged in
``<data_dir>/artifacts/<org_id>/tmp/`` (same file system, so the final rename is atomic).

- Per org: the same bytes uploaded in two orgs are two files, so nothing about one org's files
  (not even that some content exists) is observable from another.
- Within an org, one file per content: the same bytes uploaded twice are one file (and two
  artifact rows, each with its own name, deal, uploader and event). Storing again replaces the
  file with the freshly hashed bytes (``os.replace``), which also heals a copy damaged on disk.
- Writes are atomic and durable: a temp file is written while it is hashed, fsynced, renamed
  into place, and the directory fsynced. The file is in place before the row that names it
  commits; a failed commit leaves an unreferenced file (harmless, the same bytes will land there
  again), never a row without its bytes.
- Reads verify before they send: ``open_verified`` opens the file once, hashes all of it through
  that descriptor and only then hands it out (rewound) for streaming, so a mismatch is
  ``ArtifactCorrupt`` before the first byte of a response. A rename over the path after the
  check does not affect the open descriptor. The bytes are hashed again as they stream; a file
  rewritten in place *during* the stream ends the response early (the client sees a truncated
  body, never a complete corrupt one) and is logged.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread
import structlog

from cornerstone.kit.problems import AppError
from cornerstone.kit.request_body import PayloadTooLarge

log = structlog.get_logger("cornerstone.kernel.artifacts")

READ_CHUNK = 1 << 16
_WRITE_BUFFER = 1 << 20
_ORG_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ArtifactCorrupt(AppError):
    """The stored bytes are missing or no longer match the recorded SHA-256: they are withheld."""

    status = 500
    code = "ARTIFACT_CORRUPT"
    title = "Artifact corrupt"

    def __init__(self, reason: str) -> None:
        super().__init__("The stored bytes of this artifact do not match its recorded SHA-256; they are withheld.")
        self.reason = reason


@dataclass
class StagedFile:
    """An upload written to a temp file, with the digest and size of exactly what was written."""

    path: Path
    sha256: str
    size: int

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class VerifiedContent:
    """An open artifact file whose whole content matched its hash when opened; stream it once."""

    sha256: str
    size: int
    _stream: BinaryIO = field(repr=False)

    async def chunks(self) -> AsyncIterator[bytes]:
        digest = hashlib.sha256()
        try:
            while chunk := await anyio.to_thread.run_sync(self._stream.read, READ_CHUNK):
                digest.update(chunk)
                yield chunk
            if digest.hexdigest() != self.sha256:
                log.error("artifact_changed_while_streaming", sha256=self.sha256)
                raise ArtifactCorrupt("changed while streaming")
        finally:
            self.close()

    def close(self) -> None:
        self._stream.close()


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _hash_open_file(stream: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class ArtifactStorage:
    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def _org_dir(self, org_id: str) -> Path:
        if not _ORG_ID.match(org_id):
            raise ValueError("not an org id")
        return self.root / org_id

    def path_of(self, org_id: str, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self._org_dir(org_id) / sha256[:2] / sha256

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"The file is larger than {self.max_bytes} bytes.")

    async def stage(self, org_id: str, chunks: AsyncIterable[bytes]) -> StagedFile:
        """Write ``chunks`` to a temp file while hashing them; 413 as soon as they pass ``max_bytes``."""
        staging = self._org_dir(org_id) / "tmp"
        await anyio.to_thread.run_sync(lambda: staging.mkdir(parents=True, exist_ok=True))
        descriptor, name = tempfile.mkstemp(dir=staging, prefix="upload-")
        path = Path(name)
        digest, size, pending = hashlib.sha256(), 0, bytearray()

        def flush(data: bytes) -> None:
            digest.update(data)
            _write_all(descriptor, data)

        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_bytes:
                    raise self.too_large()
                pending += chunk
                if len(pending) >= _WRITE_BUFFER:
                    data, pending = bytes(pending), bytearray()
                    await anyio.to_thread.run_sync(flush, data)
            await anyio.to_thread.run_sync(flush, bytes(pending))
            await anyio.to_thread.run_sync(os.fsync, descriptor)
        except BaseException:
            _abandon(descriptor, path)
            raise
        os.close(descriptor)
        return StagedFile(path, digest.hexdigest(), size)

    async def store(self, org_id: str, staged: StagedFile) -> Path:
        """Move ``staged`` to its content address (atomically replacing any copy already there)."""
        target = self.path_of(org_id, staged.sha256)

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.path, target)
            _fsync_dir(target.parent)

        await anyio.to_thread.run_sync(move)
        return target

    async def open_verified(self, org_id: str, sha256: str, size: int) -> VerifiedContent:
        """The stored bytes, opened and wholly re-hashed; ``ArtifactCorrupt`` if missing or changed."""
        path = self.path_of(org_id, sha256)

        def open_and_check() -> VerifiedContent:
            try:
                stream = path.open("rb")
            except FileNotFoundError:
                raise ArtifactCorrupt("missing") from None
            try:
                if os.fstat(stream.fileno()).st_size != size:
                    raise ArtifactCorrupt("size differs")
                actual, read = _hash_open_file(stream)
                if actual != sha256 or read != size:
                    raise ArtifactCorrupt("hash differs")
                stream.seek(0)
            except BaseException:
                stream.close()
                raise
            return VerifiedContent(sha256, size, stream)

        return await anyio.to_thread.run_sync(open_and_check)

    async def verify(self, org_id: str, sha256: str, size: int) -> None:
        """Re-hash the stored bytes; ``ArtifactCorrupt`` if they are missing or changed."""
        content = await self.open_verified(org_id, sha256, size)
        content.close()


def _abandon(descriptor: int, path: Path) -> None:
    os.close(descriptor)
    path.unlink(missing_ok=True)


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]

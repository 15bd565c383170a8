"""Artifact use cases: upload to a deal, list, read back with the stored hash re-checked.

An artifact is visible to a caller exactly when its deal is (``deals.repository.get_deal``): the
org first, and for external parties only the deals they are a party to. Another org's artifact,
or one of a deal the caller cannot see, is ``ARTIFACT_NOT_FOUND``, the same as an id that never
existed. Every read of the bytes re-hashes them first (``storage``): a mismatch is a 500
``ARTIFACT_CORRUPT``, logged at error level with the artifact id, and no byte of the file is sent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterable

import anyio.to_thread
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.artifacts import FILENAME_MAX_CHARS, Artifact, ArtifactPage
from cornerstone.kernel.artifacts.sniff import sniff
from cornerstone.kernel.artifacts.storage import ArtifactCorrupt, ArtifactStorage, VerifiedContent
from cornerstone.kernel.config import KernelSettings
from cornerstone.kernel.deals import repository as deals
from cornerstone.kernel.errors import DealNotFound
from cornerstone.kernel.events.service import append_event
from cornerstone.kernel.models import ArtifactRow
from cornerstone.kernel.paging import keyset_page
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.db import Database
from cornerstone.kit.hashchain import CHECKPOINT_KEY_INFO
from cornerstone.kit.ids import new_id
from cornerstone.kit.problems import NotFound, ValidationFailed
from cornerstone.kit.service_auth import ServiceCaller

log = structlog.get_logger("cornerstone.kernel.artifacts")

_PATH_SEPARATORS = re.compile(r"[\\/]")
_MAX_EXTENSION = 16
DEFAULT_FILENAME = "upload"


class ArtifactNotFound(NotFound):
    """No artifact with this id visible to the caller."""

    code = "ARTIFACT_NOT_FOUND"
    title = "Artifact not found"

    def __init__(self) -> None:
        super().__init__("No artifact with this id.")


class EmptyArtifact(ValidationFailed):
    """An uploaded file with no bytes: a ``VALIDATION_ERROR`` on ``file``."""

    def __init__(self) -> None:
        detail = "The file is empty."
        super().__init__(detail, extra={"errors": [{"field": "file", "message": detail, "type": "empty_file"}]})


def sanitize_filename(raw: str) -> str:
    """A display name safe to store and to put in a header: the last path segment, NFC, without
    control or format characters (no bidi overrides), no leading dots, at most 255 characters
    (keeping a short extension); ``upload`` when nothing is left."""
    name = _PATH_SEPARATORS.split(unicodedata.normalize("NFC", raw))[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = name.strip().lstrip(".").strip()
    if len(name) > FILENAME_MAX_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and 0 < len(extension) <= _MAX_EXTENSION:
            name = stem[: FILENAME_MAX_CHARS - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:FILENAME_MAX_CHARS].rstrip()
    return name or DEFAULT_FILENAME


def storage_of(source: ArtifactStorage | KernelSettings) -> ArtifactStorage:
    if isinstance(source, ArtifactStorage):
        return source
    return ArtifactStorage(source.data_dir / "artifacts", max_bytes=source.artifact_max_bytes)


def to_contract(row: ArtifactRow) -> Artifact:
    return Artifact(
        id=row.id,
        deal_id=row.deal_id,
        sha256=row.sha256,
        filename=row.filename,
        size=row.size,
        mime_type=row.mime_type,
        uploaded_by=row.uploaded_by,
        created_at=as_utc(row.created_at),
    )


async def _visible_deal_id(session: AsyncSession, caller: ServiceCaller, deal_id: str) -> str:
    deal = await deals.get_deal(session, caller, deal_id)
    if deal is None:
        raise DealNotFound()
    return deal.id


async def read_artifact(session: AsyncSession, caller: ServiceCaller, artifact_id: str) -> ArtifactRow:
    """The artifact's row, if the caller may see its deal (``ARTIFACT_NOT_FOUND`` otherwise)."""
    row = (
        await session.execute(
            select(ArtifactRow).where(ArtifactRow.org_id == caller.org_id, ArtifactRow.id == artifact_id)
        )
    ).scalar_one_or_none()
    if row is None or await deals.get_deal(session, caller, row.deal_id) is None:
        raise ArtifactNotFound()
    return row


def _corrupt(row: ArtifactRow, error: ArtifactCorrupt) -> ArtifactCorrupt:
    log.error(
        "artifact_corrupt",
        artifact_id=row.id,
        deal_id=row.deal_id,
        sha256=row.sha256,
        size=row.size,
        reason=error.reason,
    )
    return error


async def checked_artifact(
    session: AsyncSession,
    caller: ServiceCaller,
    artifact_id: str,
    settings_or_storage: ArtifactStorage | KernelSettings,
) -> ArtifactRow:
    """The artifact's row after its stored bytes were re-hashed and matched ``sha256``.

    ``ARTIFACT_NOT_FOUND`` (404) if the caller cannot see it; ``ARTIFACT_CORRUPT`` (500, logged
    with the artifact id) if its bytes are missing or changed. For evidence that must be backed
    by the file it names (DOC materials).
    """
    row = await read_artifact(session, caller, artifact_id)
    try:
        await storage_of(settings_or_storage).verify(caller.org_id, row.sha256, row.size)
    except ArtifactCorrupt as error:
        raise _corrupt(row, error) from None
    return row


async def open_content(
    session: AsyncSession, caller: ServiceCaller, artifact_id: str, storage: ArtifactStorage
) -> tuple[ArtifactRow, VerifiedContent]:
    """The row and its bytes, opened and verified whole before anything is sent."""
    row = await read_artifact(session, caller, artifact_id)
    try:
        content = await storage.open_verified(caller.org_id, row.sha256, row.size)
    except ArtifactCorrupt as error:
        raise _corrupt(row, error) from None
    return row, content


async def list_artifacts(
    session: AsyncSession, caller: ServiceCaller, deal_id: str, *, limit: int, cursor: str | None
) -> ArtifactPage:
    visible = await _visible_deal_id(session, caller, deal_id)
    statement = select(ArtifactRow).where(ArtifactRow.org_id == caller.org_id, ArtifactRow.deal_id == visible)
    rows, next_cursor = await keyset_page(session, statement, ArtifactRow, limit=limit, cursor=cursor)
    return ArtifactPage(items=[to_contract(row) for row in rows], next_cursor=next_cursor)


async def upload_artifact(
    database: Database,
    caller: ServiceCaller,
    deal_id: str,
    *,
    filename: str,
    chunks: AsyncIterable[bytes],
    storage: ArtifactStorage,
    checkpoint_key: bytes | None = None,
) -> Artifact:
    """Stage, hash and type the bytes, put them at their content address, then record the row and
    the ``artifact.uploaded`` event in one transaction.

    Units of work of its own rather than the request's session: the body (up to
    ``artifact_max_bytes``) is read between a short read (does the deal exist?) and a short write,
    so no database transaction - on SQLite, the write lock - is held while it streams in.
    """
    async with database.session(org_id=caller.org_id) as session:
        await _visible_deal_id(session, caller, deal_id)
    name = sanitize_filename(filename)
    staged = await storage.stage(caller.org_id, chunks)
    try:
        if staged.size == 0:
            raise EmptyArtifact()
        mime_type = await anyio.to_thread.run_sync(sniff, staged.path, name)
        await storage.store(caller.org_id, staged)
    finally:
        staged.discard()
    async with database.session(write=True, org_id=caller.org_id) as session:
        if checkpoint_key is not None:  # the event is signed into event_checkpoints, as a request's writes are
            session.info[CHECKPOINT_KEY_INFO] = checkpoint_key
        visible = await _visible_deal_id(session, caller, deal_id)
        row = ArtifactRow(
            id=new_id(),
            org_id=caller.org_id,
            deal_id=visible,
            sha256=staged.sha256,
            filename=name,
            size=staged.size,
            mime_type=mime_type,
            uploaded_by=caller.actor_id,
            created_at=utcnow(),
        )
        session.add(row)
        await session.flush()
        await append_event(
            session,
            caller,
            type="artifact.uploaded",
            subject_type="deal",
            subject_id=visible,
            payload={
                "artifact_id": row.id,
                "sha256": row.sha256,
                "size": row.size,
                "mime_type": row.mime_type,
                "filename": row.filename,
            },
        )
        return to_contract(row)

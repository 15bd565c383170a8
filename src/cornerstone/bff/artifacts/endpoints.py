"""Public artifact routes. The kernel types, stores and verifies the bytes; these authenticate,
authorize and stream them through (never holding a whole file in memory)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile, status
from fastapi.responses import StreamingResponse

from cornerstone.bff.audit.middleware import audited, note_audit, note_change
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.contracts.artifacts import Artifact, ArtifactPage
from cornerstone.contracts.types import SINGLE_LINE
from cornerstone.kit.request_body import PayloadTooLarge

router = APIRouter(tags=["artifacts"])

UPLOAD_PATH = "/api/deals/{deal_id}/artifacts"
# What a multipart body may add to the file it carries (boundaries, part headers, a long file name).
MULTIPART_OVERHEAD = 64 * 1024
_FILENAME_MAX = 1024
_CHUNK = 1 << 16
# The kernel's headers a download passes on: type, length, name, and the hash that was checked.
_DOWNLOAD_HEADERS = ("content-type", "content-length", "content-disposition", "x-artifact-sha256")

Reader = Annotated[Principal, Depends(require(Permission.ARTIFACTS_READ))]
Uploader = Annotated[Principal, Depends(require(Permission.ARTIFACTS_UPLOAD))]
# Put into the kernel's URL path: only characters that cannot change that URL.
DealId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ArtifactId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


async def _file_chunks(file: UploadFile) -> AsyncIterator[bytes]:
    await file.seek(0)
    while chunk := await file.read(_CHUNK):
        yield chunk


def _size_of(file: UploadFile) -> int:
    if file.size is not None:  # counted by the multipart parser as the file was spooled
        return file.size
    file.file.seek(0, os.SEEK_END)
    size = file.file.tell()
    file.file.seek(0)
    return size


@router.post(
    UPLOAD_PATH,
    status_code=status.HTTP_201_CREATED,
    response_model=Artifact,
    openapi_extra=audited("artifact.upload", "artifact"),
)
async def upload_artifact(
    deal_id: DealId,
    file: Annotated[UploadFile, File(description="The file. Its type is read from its bytes, not its name.")],
    request: Request,
    user: Uploader,
    kernel: Kernel,
) -> Any:
    """Attach a file to a deal: PDF, PNG, JPEG, GIF, WEBP, TIFF, Office documents, CSV or UTF-8 text,
    typed from its bytes (415 ``UNSUPPORTED_MEDIA_TYPE`` otherwise), at most
    ``CORNERSTONE_ARTIFACT_MAX_BYTES`` (413 above). Stored by SHA-256 within the org."""
    max_bytes: int = request.app.state.artifact_max_bytes
    size = _size_of(file)
    if size > max_bytes:
        raise PayloadTooLarge(f"The file is larger than {max_bytes} bytes.")
    artifact = await kernel.upload(
        f"/deals/{deal_id}/artifacts",
        user,
        content=_file_chunks(file),
        size=size,
        params={"filename": (file.filename or "upload")[:_FILENAME_MAX]},
    )
    note_audit(request, target_id=artifact["id"])
    note_change(request, None, artifact)
    return artifact


@router.get(UPLOAD_PATH, response_model=ArtifactPage)
async def list_artifacts(
    deal_id: DealId,
    user: Reader,
    kernel: Kernel,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512), SINGLE_LINE] = None,
) -> Any:
    """The deal's artifacts, newest first (metadata only)."""
    return await kernel.request("GET", f"/deals/{deal_id}/artifacts", user, params={"limit": limit, "cursor": cursor})


@router.get(
    "/api/artifacts/{artifact_id}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes."}},
)
async def download_artifact(artifact_id: ArtifactId, user: Reader, kernel: Kernel) -> StreamingResponse:
    """The file, as an attachment with its stored type. The kernel re-hashes it before sending a byte:
    bytes that no longer match are withheld (500 ``ARTIFACT_CORRUPT``)."""
    download = await kernel.download(f"/artifacts/{artifact_id}/content", user)
    headers = {name: download.headers[name] for name in _DOWNLOAD_HEADERS if name in download.headers}
    return StreamingResponse(download.chunks(), headers=headers)

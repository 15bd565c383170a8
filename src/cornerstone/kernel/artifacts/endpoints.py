"""Kernel artifact routes (internal): upload raw bytes to a deal, list, metadata, verified content."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import StreamingResponse

from cornerstone.contracts.artifacts import Artifact, ArtifactPage
from cornerstone.contracts.types import FILE_NAME, SINGLE_LINE
from cornerstone.kernel.artifacts import service
from cornerstone.kernel.artifacts.storage import ArtifactStorage
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.sessions import ReadSession
from cornerstone.kit.content_disposition import attachment
from cornerstone.kit.problems import BadRequest

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}", tags=["artifacts"])

DealId = Annotated[str, Path(max_length=64)]
ArtifactId = Annotated[str, Path(max_length=64)]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=512), SINGLE_LINE]
SHA256_HEADER = "X-Artifact-SHA256"


def artifact_storage(request: Request) -> ArtifactStorage:
    storage: ArtifactStorage = request.app.state.artifact_storage
    return storage


Storage = Annotated[ArtifactStorage, Depends(artifact_storage)]


@router.post(
    "/deals/{deal_id}/artifacts",
    status_code=status.HTTP_201_CREATED,
    response_model=Artifact,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string"}}}}
    },
)
async def upload_artifact(
    deal_id: DealId,
    request: Request,
    caller: Caller,
    storage: Storage,
    filename: Annotated[str, Query(min_length=1, max_length=1024), FILE_NAME],
) -> Artifact:
    """The body is the file's bytes, as they are; ``filename`` is only a display name (sanitized)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BadRequest("The Content-Length header is not a number.")
        if int(declared) > storage.max_bytes:
            raise storage.too_large()
    return await service.upload_artifact(
        request.app.state.database,
        caller,
        deal_id,
        filename=filename,
        chunks=request.stream(),
        storage=storage,
        checkpoint_key=request.app.state.events_checkpoint_key,
    )


@router.get("/deals/{deal_id}/artifacts", response_model=ArtifactPage)
async def list_artifacts(
    deal_id: DealId, caller: Caller, session: ReadSession, limit: Limit = 50, cursor: Cursor = None
) -> ArtifactPage:
    return await service.list_artifacts(session, caller, deal_id, limit=limit, cursor=cursor)


@router.get("/artifacts/{artifact_id}", response_model=Artifact)
async def get_artifact(artifact_id: ArtifactId, caller: Caller, session: ReadSession) -> Artifact:
    return service.to_contract(await service.read_artifact(session, caller, artifact_id))


@router.get(
    "/artifacts/{artifact_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def artifact_content(
    artifact_id: ArtifactId, caller: Caller, session: ReadSession, storage: Storage
) -> StreamingResponse:
    """The stored bytes, verified against their SHA-256 before the first byte is sent."""
    row, content = await service.open_content(session, caller, artifact_id, storage)
    return StreamingResponse(
        content.chunks(),
        media_type=row.mime_type,
        headers={
            "Content-Length": str(row.size),
            "Content-Disposition": attachment(row.filename),
            SHA256_HEADER: row.sha256,
        },
    )

"""Kernel evidence-pack route (internal)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from cornerstone.kernel.auth import Caller
from cornerstone.kernel.evidence_pack import service
from cornerstone.kernel.sessions import ReadSession
from cornerstone.kit.content_disposition import attachment

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}/deals/{deal_id}/evidence-pack", tags=["evidence"])

MEDIA_TYPE = "application/zip"


@router.get("", response_class=Response, responses={200: {"content": {MEDIA_TYPE: {}}}})
async def evidence_pack(
    deal_id: Annotated[str, Path(max_length=64)], request: Request, caller: Caller, session: ReadSession
) -> Response:
    """The deal's evidence pack: a deterministic zip with a signed manifest (see ``evidence_pack.pack``)."""
    pack = await service.evidence_pack(
        session,
        caller,
        deal_id,
        storage=request.app.state.artifact_storage,
        signer=request.app.state.evidence_signer,
        caps=request.app.state.evidence_caps,
    )
    return Response(pack.data, media_type=MEDIA_TYPE, headers={"Content-Disposition": attachment(pack.filename)})

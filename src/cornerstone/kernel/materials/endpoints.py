"""Kernel material routes (internal). A DOC material's artifact is re-hashed from storage here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.evidence import Material, MaterialCreate, MaterialList
from cornerstone.kernel.artifacts.service import ArtifactNotFound, checked_artifact
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.materials import service
from cornerstone.kernel.sessions import ReadSession, WriteSession
from cornerstone.kit.problems import ValidationFailed
from cornerstone.kit.service_auth import ServiceCaller

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}", tags=["materials"])

Id = Annotated[str, Path(max_length=64)]


def _artifact_check(request: Request, session: AsyncSession, caller: ServiceCaller) -> service.ArtifactCheck:
    """A DOC material's artifact: of the caller's org, and its stored bytes still match their hash."""

    async def check(artifact_id: str) -> tuple[str, str]:
        try:
            row = await checked_artifact(session, caller, artifact_id, request.app.state.artifact_storage)
        except ArtifactNotFound:
            raise ValidationFailed(
                "Invalid fields: body.artifact_id",
                extra={"errors": [{"field": "body.artifact_id", "message": "no such artifact", "type": "material"}]},
            ) from None
        return row.deal_id, row.sha256

    return check


@router.post("/deals/{deal_id}/materials", status_code=status.HTTP_201_CREATED, response_model=Material)
async def add_material(
    deal_id: Id, body: MaterialCreate, request: Request, caller: Caller, session: WriteSession
) -> Material:
    return await service.add_material(session, caller, deal_id, body, _artifact_check(request, session, caller))


@router.get("/deals/{deal_id}/materials", response_model=MaterialList)
async def list_materials(deal_id: Id, caller: Caller, session: ReadSession) -> MaterialList:
    return await service.list_materials(session, caller, deal_id)


@router.post("/materials/{material_id}/verify", response_model=Material)
async def verify_material(material_id: Id, caller: Caller, session: WriteSession) -> Material:
    return await service.verify_material(session, caller, material_id)

"""Kernel material routes (internal). A DOC material's artifact is re-hashed from storage here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from cornerstone.contracts.evidence import Material, MaterialCreate, MaterialList
from cornerstone.kernel.artifacts.endpoints import Storage
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.materials import service
from cornerstone.kernel.sessions import ReadSession, WriteSession

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}", tags=["materials"])

Id = Annotated[str, Path(max_length=64)]


@router.post("/deals/{deal_id}/materials", status_code=status.HTTP_201_CREATED, response_model=Material)
async def add_material(
    deal_id: Id, body: MaterialCreate, caller: Caller, session: WriteSession, storage: Storage
) -> Material:
    check = service.stored_artifact_check(session, caller, storage)
    return await service.add_material(session, caller, deal_id, body, check)


@router.get("/deals/{deal_id}/materials", response_model=MaterialList)
async def list_materials(deal_id: Id, caller: Caller, session: ReadSession) -> MaterialList:
    return await service.list_materials(session, caller, deal_id)


@router.post("/materials/{material_id}/verify", response_model=Material)
async def verify_material(material_id: Id, caller: Caller, session: WriteSession) -> Material:
    return await service.verify_material(session, caller, material_id)

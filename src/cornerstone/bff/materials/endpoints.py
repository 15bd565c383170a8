"""A deal's materials. The truth class is never taken on the caller's word: DOC needs an
artifact the kernel re-hashes, AI comes only from the AI module and counts once verified."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, status

from cornerstone.bff.audit.middleware import audited, note_change
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.contracts.evidence import Material, MaterialCreate, MaterialList

router = APIRouter(prefix="/api", tags=["materials"])

Reader = Annotated[Principal, Depends(require(Permission.MATERIALS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.MATERIALS_WRITE))]
Verifier = Annotated[Principal, Depends(require(Permission.MATERIALS_VERIFY))]
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/deals/{deal_id}/materials", response_model=MaterialList)
async def list_materials(deal_id: Id, user: Reader, kernel: Kernel) -> Any:
    """The latest revision of each of the deal's materials."""
    return await kernel.request("GET", f"/deals/{deal_id}/materials", user)


@router.post(
    "/deals/{deal_id}/materials",
    status_code=status.HTTP_201_CREATED,
    response_model=Material,
    openapi_extra=audited("deal.material", "deal"),
)
async def add_material(deal_id: Id, body: MaterialCreate, request: Request, user: Writer, kernel: Kernel) -> Any:
    """Add a material, or a revision of the deal's material of that type. ``DOC`` needs ``artifact_id``."""
    material = await kernel.request("POST", f"/deals/{deal_id}/materials", user, json=body.model_dump(mode="json"))
    note_change(request, None, material)
    return material


@router.post(
    "/materials/{material_id}/verify", response_model=Material, openapi_extra=audited("material.verify", "material")
)
async def verify_material(material_id: Id, request: Request, user: Verifier, kernel: Kernel) -> Any:
    """Promote an AI material to HUMAN; the verifier and the time are recorded."""
    material = await kernel.request("POST", f"/materials/{material_id}/verify", user)
    note_change(request, None, material)
    return material

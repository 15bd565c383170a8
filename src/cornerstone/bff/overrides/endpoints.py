"""Admin overrides: a written attestation that satisfies one edge's gate once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, status

from cornerstone.bff.audit.middleware import audited, note_change
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.contracts.evidence import Override, OverrideCreate

router = APIRouter(prefix="/api/deals/{deal_id}/overrides", tags=["overrides"])

Admin = Annotated[Principal, Depends(require(Permission.OVERRIDES_WRITE))]
DealId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=Override, openapi_extra=audited("deal.override", "deal")
)
async def create_override(deal_id: DealId, body: OverrideCreate, request: Request, user: Admin, kernel: Kernel) -> Any:
    """Override the gate of one outgoing edge of the current stage; consumed by that transition."""
    override = await kernel.request("POST", f"/deals/{deal_id}/overrides", user, json=body.model_dump(mode="json"))
    note_change(request, None, override)
    return override

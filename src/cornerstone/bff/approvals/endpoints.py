"""Approvals of a deal's outgoing edges: by the roles the edge's gate names (org roles, or a
party's deal role), counted once per person, in the current stage visit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, status

from cornerstone.bff.audit.middleware import audited, note_change
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.contracts.evidence import Approval, ApprovalCreate, ApprovalList

router = APIRouter(prefix="/api", tags=["approvals"])

Reader = Annotated[Principal, Depends(require(Permission.APPROVALS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.APPROVALS_WRITE))]
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/deals/{deal_id}/approvals", response_model=ApprovalList)
async def list_approvals(deal_id: Id, user: Reader, kernel: Kernel) -> Any:
    """Every approval and denial of the deal; ``current`` marks those that count now."""
    return await kernel.request("GET", f"/deals/{deal_id}/approvals", user)


@router.post(
    "/deals/{deal_id}/approvals",
    status_code=status.HTTP_201_CREATED,
    response_model=Approval,
    openapi_extra=audited("deal.approval", "deal"),
)
async def give_approval(deal_id: Id, body: ApprovalCreate, request: Request, user: Writer, kernel: Kernel) -> Any:
    """Approve or deny one outgoing edge of the deal's current stage."""
    approval = await kernel.request("POST", f"/deals/{deal_id}/approvals", user, json=body.model_dump(mode="json"))
    note_change(request, None, approval)
    return approval


@router.post(
    "/approvals/{approval_id}/withdraw",
    response_model=Approval,
    openapi_extra=audited("deal.approval_withdraw", "approval"),
)
async def withdraw_approval(approval_id: Id, request: Request, user: Writer, kernel: Kernel) -> Any:
    """Withdraw your own approval or denial (a denial blocks its edge until then)."""
    approval = await kernel.request("POST", f"/approvals/{approval_id}/withdraw", user)
    note_change(request, None, approval)
    return approval

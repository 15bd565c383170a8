"""Kernel approval routes (internal)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from cornerstone.contracts.evidence import Approval, ApprovalCreate, ApprovalList
from cornerstone.kernel.approvals import service
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.sessions import ReadSession, WriteSession

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}", tags=["approvals"])

Id = Annotated[str, Path(max_length=64)]


@router.post("/deals/{deal_id}/approvals", status_code=status.HTTP_201_CREATED, response_model=Approval)
async def give_approval(deal_id: Id, body: ApprovalCreate, caller: Caller, session: WriteSession) -> Approval:
    return await service.give_approval(session, caller, deal_id, body)


@router.get("/deals/{deal_id}/approvals", response_model=ApprovalList)
async def list_approvals(deal_id: Id, caller: Caller, session: ReadSession) -> ApprovalList:
    return await service.list_approvals(session, caller, deal_id)


@router.post("/approvals/{approval_id}/withdraw", response_model=Approval)
async def withdraw_approval(approval_id: Id, caller: Caller, session: WriteSession) -> Approval:
    return await service.withdraw_approval(session, caller, approval_id)

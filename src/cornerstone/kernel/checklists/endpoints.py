"""Kernel checklist routes (internal)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cornerstone.contracts.checklists import Checklist, ChecklistItem, ChecklistItemChange
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.checklists import service
from cornerstone.kernel.sessions import ReadSession, WriteSession

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}", tags=["checklists"])

Id = Annotated[str, Path(max_length=64)]


@router.get("/deals/{deal_id}/checklist", response_model=Checklist)
async def read_checklist(deal_id: Id, caller: Caller, session: ReadSession) -> Checklist:
    return await service.read_checklist(session, caller, deal_id)


@router.patch("/checklist-items/{item_id}", response_model=ChecklistItem)
async def update_item(item_id: Id, body: ChecklistItemChange, caller: Caller, session: WriteSession) -> ChecklistItem:
    return await service.update_item(session, caller, item_id, body)

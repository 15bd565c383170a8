"""Kernel deal-party routes (internal)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from cornerstone.contracts.evidence import Party, PartyCreate, PartyList
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.parties import service
from cornerstone.kernel.sessions import ReadSession, WriteSession

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}/deals/{deal_id}/parties", tags=["parties"])

DealId = Annotated[str, Path(max_length=64)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Party)
async def add_party(deal_id: DealId, body: PartyCreate, caller: Caller, session: WriteSession) -> Party:
    return await service.add_party(session, caller, deal_id, body)


@router.get("", response_model=PartyList)
async def list_parties(deal_id: DealId, caller: Caller, session: ReadSession) -> PartyList:
    return await service.list_parties(session, caller, deal_id)

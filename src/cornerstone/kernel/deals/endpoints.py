"""Kernel deal routes (internal): ``/kernel/v1/orgs/{org_id}/deals``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from cornerstone.contracts.deals import (
    Deal,
    DealCreate,
    DealPage,
    DealUpdate,
    Stage,
    TransitionOption,
    TransitionRequest,
)
from cornerstone.contracts.snapshots import DealSnapshot
from cornerstone.contracts.types import SINGLE_LINE
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.deals import repository, service, snapshot
from cornerstone.kernel.sessions import ReadSession, WriteSession
from cornerstone.kit.clock import utcnow

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}/deals", tags=["deals"])

DealId = Annotated[str, Path(max_length=64)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Deal)
async def create_deal(body: DealCreate, caller: Caller, session: WriteSession) -> Deal:
    return await service.create_deal(session, caller, body)


@router.get("", response_model=DealPage)
async def list_deals(
    caller: Caller,
    session: ReadSession,
    stage: Stage | None = None,
    q: Annotated[str | None, Query(max_length=200), SINGLE_LINE] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512), SINGLE_LINE] = None,
) -> DealPage:
    rows, next_cursor = await repository.list_deals(
        session, caller, stage=stage.value if stage else None, q=q, limit=limit, cursor=cursor
    )
    return DealPage(items=[service.to_contract(row) for row in rows], next_cursor=next_cursor)


@router.get("/{deal_id}", response_model=Deal)
async def get_deal(deal_id: DealId, caller: Caller, request: Request) -> Deal:
    # The hottest read: one prepared statement outside any unit of work (Database.read_one).
    return service.to_contract(await repository.read_visible_deal(request.app.state.database, caller, deal_id))


@router.patch("/{deal_id}", response_model=Deal)
async def update_deal(deal_id: DealId, body: DealUpdate, caller: Caller, session: WriteSession) -> Deal:
    return await service.update_deal(session, caller, deal_id, body)


@router.get("/{deal_id}/transitions", response_model=list[TransitionOption])
async def preview_transitions(deal_id: DealId, caller: Caller, session: ReadSession) -> list[TransitionOption]:
    return await service.transition_options(session, caller, await service.read_deal(session, caller, deal_id))


@router.post("/{deal_id}/transitions", response_model=Deal)
async def transition_deal(deal_id: DealId, body: TransitionRequest, caller: Caller, session: WriteSession) -> Deal:
    return await service.transition_deal(session, caller, deal_id, body)


@router.get("/{deal_id}/snapshot", response_model=DealSnapshot)
async def deal_snapshot(
    deal_id: DealId, caller: Caller, session: ReadSession, at: datetime | None = None
) -> DealSnapshot:
    return await snapshot.snapshot(session, caller, deal_id, at if at is not None else utcnow())

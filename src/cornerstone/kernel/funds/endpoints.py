"""Kernel fund routes (internal): funds, NAV marks and commitments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from cornerstone.contracts.funds import (
    Commitment,
    CommitmentCreate,
    CommitmentPage,
    Fund,
    FundCreate,
    FundPage,
    Valuation,
    ValuationCreate,
)
from cornerstone.contracts.types import SINGLE_LINE
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.funds import service
from cornerstone.kernel.sessions import ReadSession, WriteSession

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}/funds", tags=["funds"])

FundId = Annotated[str, Path(max_length=64)]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=512), SINGLE_LINE]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Fund)
async def create_fund(body: FundCreate, caller: Caller, session: WriteSession) -> Fund:
    return await service.create_fund(session, caller, body)


@router.get("", response_model=FundPage)
async def list_funds(caller: Caller, session: ReadSession, limit: Limit = 50, cursor: Cursor = None) -> FundPage:
    return await service.list_funds(session, caller, limit=limit, cursor=cursor)


@router.get("/{fund_id}", response_model=Fund)
async def get_fund(fund_id: FundId, caller: Caller, session: ReadSession) -> Fund:
    return await service.to_contract(session, caller, await service.read_fund(session, caller, fund_id))


@router.post("/{fund_id}/valuations", status_code=status.HTTP_201_CREATED, response_model=Valuation)
async def add_valuation(fund_id: FundId, body: ValuationCreate, caller: Caller, session: WriteSession) -> Valuation:
    return await service.add_valuation(session, caller, fund_id, body)


@router.post("/{fund_id}/commitments", status_code=status.HTTP_201_CREATED, response_model=Commitment)
async def add_commitment(fund_id: FundId, body: CommitmentCreate, caller: Caller, session: WriteSession) -> Commitment:
    return await service.add_commitment(session, caller, fund_id, body)


@router.get("/{fund_id}/commitments", response_model=CommitmentPage)
async def list_commitments(
    fund_id: FundId, caller: Caller, session: ReadSession, limit: Limit = 50, cursor: Cursor = None
) -> CommitmentPage:
    items, next_cursor = await service.list_commitments(session, caller, fund_id, limit=limit, cursor=cursor)
    return CommitmentPage(items=items, next_cursor=next_cursor)

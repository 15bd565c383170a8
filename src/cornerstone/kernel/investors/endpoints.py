"""Kernel investor routes (internal): investors, their portfolio and statements."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from cornerstone.contracts.funds import (
    Investor,
    InvestorCapitalCallPage,
    InvestorCreate,
    InvestorDistributionPage,
    InvestorPage,
    Portfolio,
    Statement,
)
from cornerstone.contracts.types import SINGLE_LINE
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.investors import service
from cornerstone.kernel.ledger import service as ledger
from cornerstone.kernel.sessions import ReadSession, WriteSession
from cornerstone.kit.field_crypto import FieldCipher

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}/investors", tags=["investors"])

InvestorId = Annotated[str, Path(max_length=64)]


def _cipher(request: Request) -> FieldCipher:
    cipher: FieldCipher = request.app.state.field_cipher
    return cipher


Cipher = Annotated[FieldCipher, Depends(_cipher)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Investor)
async def create_investor(body: InvestorCreate, caller: Caller, session: WriteSession, cipher: Cipher) -> Investor:
    return await service.create_investor(session, caller, body, cipher)


@router.get("", response_model=InvestorPage)
async def list_investors(
    caller: Caller,
    session: ReadSession,
    cipher: Cipher,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512), SINGLE_LINE] = None,
) -> InvestorPage:
    return await service.list_investors(session, caller, cipher, limit=limit, cursor=cursor)


@router.get("/{investor_id}", response_model=Investor)
async def get_investor(investor_id: InvestorId, caller: Caller, session: ReadSession, cipher: Cipher) -> Investor:
    return service.to_contract(await service.read_investor(session, caller, investor_id), cipher)


@router.get("/{investor_id}/portfolio", response_model=Portfolio)
async def get_portfolio(investor_id: InvestorId, caller: Caller, session: ReadSession) -> Portfolio:
    return await ledger.portfolio(session, caller, investor_id)


@router.get("/{investor_id}/capital-calls", response_model=InvestorCapitalCallPage)
async def list_investor_capital_calls(
    investor_id: InvestorId,
    caller: Caller,
    session: ReadSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512), SINGLE_LINE] = None,
) -> InvestorCapitalCallPage:
    return await ledger.investor_capital_calls(session, caller, investor_id, limit=limit, cursor=cursor)


@router.get("/{investor_id}/distributions", response_model=InvestorDistributionPage)
async def list_investor_distributions(
    investor_id: InvestorId,
    caller: Caller,
    session: ReadSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512), SINGLE_LINE] = None,
) -> InvestorDistributionPage:
    return await ledger.investor_distributions(session, caller, investor_id, limit=limit, cursor=cursor)


@router.get("/{investor_id}/statement", response_model=Statement)
async def get_statement(
    investor_id: InvestorId,
    caller: Caller,
    session: ReadSession,
    fund_id: Annotated[str, Query(min_length=1, max_length=64), SINGLE_LINE],
    as_of: date | None = None,
) -> Statement:
    return await ledger.statement(session, caller, investor_id, fund_id, as_of)

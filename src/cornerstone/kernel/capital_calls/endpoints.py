"""Kernel capital call routes (internal). Creating a call and recording a payment move money:
they need an ``Idempotency-Key`` and run at most once per key (``money_operations``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response

from cornerstone.contracts.funds import (
    CapitalCall,
    CapitalCallCreate,
    CapitalCallPage,
    CapitalCallPreview,
    PaymentCreate,
)
from cornerstone.contracts.types import SINGLE_LINE
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.capital_calls import service
from cornerstone.kernel.money_operations import Money
from cornerstone.kernel.sessions import ReadSession, WriteSession

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}/capital-calls", tags=["capital calls"])

CallId = Annotated[str, Path(max_length=64)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CapitalCall)
async def create_call(body: CapitalCallCreate, money: Money) -> Response:
    session, caller = money.session, money.caller
    return await money.once(
        body,
        status.HTTP_201_CREATED,
        "capital_call",
        lambda: service.create_call_answer(session, caller, body),
        lambda call_id: service.load_call_answer(session, caller, call_id),
    )


@router.post("/preview", response_model=CapitalCallPreview)
async def preview_call(body: CapitalCallCreate, caller: Caller, session: ReadSession) -> CapitalCallPreview:
    return await service.preview_call(session, caller, body)


@router.get("", response_model=CapitalCallPage)
async def list_calls(
    caller: Caller,
    session: ReadSession,
    fund_id: Annotated[str | None, Query(max_length=64), SINGLE_LINE] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512), SINGLE_LINE] = None,
) -> CapitalCallPage:
    return await service.list_calls(session, caller, fund_id=fund_id, limit=limit, cursor=cursor)


@router.get("/{call_id}", response_model=CapitalCall)
async def get_call(call_id: CallId, caller: Caller, session: ReadSession) -> CapitalCall:
    return await service.load_call(session, caller, call_id)


@router.post("/{call_id}/issue", response_model=CapitalCall)
async def issue_call(call_id: CallId, caller: Caller, session: WriteSession) -> CapitalCall:
    return await service.issue_call(session, caller, call_id)


@router.post("/{call_id}/cancel", response_model=CapitalCall)
async def cancel_call(call_id: CallId, caller: Caller, session: WriteSession) -> CapitalCall:
    return await service.cancel_call(session, caller, call_id)


@router.post("/{call_id}/payments", response_model=CapitalCall)
async def record_payment(call_id: CallId, body: PaymentCreate, money: Money) -> Response:
    session, caller = money.session, money.caller
    return await money.once(
        body,
        status.HTTP_200_OK,
        "capital_call",
        lambda: service.record_payment_answer(session, caller, call_id, body),
        lambda stored_id: service.load_call_answer(session, caller, stored_id),
    )

"""Kernel distribution routes (internal). Creating and paying move money: they need an
``Idempotency-Key`` and run at most once per key (``money_operations``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response

from cornerstone.contracts.funds import Distribution, DistributionCreate, DistributionPage, DistributionPreview
from cornerstone.contracts.types import SINGLE_LINE
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.distributions import service
from cornerstone.kernel.money_operations import Money
from cornerstone.kernel.sessions import ReadSession, WriteSession

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}/distributions", tags=["distributions"])

DistributionId = Annotated[str, Path(max_length=64)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Distribution)
async def create_distribution(body: DistributionCreate, money: Money) -> Response:
    session, caller = money.session, money.caller
    return await money.once(
        body,
        status.HTTP_201_CREATED,
        "distribution",
        lambda: service.create_distribution_answer(session, caller, body),
        lambda distribution_id: service.load_distribution_answer(session, caller, distribution_id),
    )


@router.post("/preview", response_model=DistributionPreview)
async def preview_distribution(body: DistributionCreate, caller: Caller, session: ReadSession) -> DistributionPreview:
    """What ``POST /distributions`` with this body would compute now; nothing is stored."""
    return await service.preview_distribution(session, caller, body)


@router.get("", response_model=DistributionPage)
async def list_distributions(
    caller: Caller,
    session: ReadSession,
    fund_id: Annotated[str | None, Query(max_length=64), SINGLE_LINE] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512), SINGLE_LINE] = None,
) -> DistributionPage:
    return await service.list_distributions(session, caller, fund_id=fund_id, limit=limit, cursor=cursor)


@router.get("/{distribution_id}", response_model=Distribution)
async def get_distribution(distribution_id: DistributionId, caller: Caller, session: ReadSession) -> Distribution:
    return await service.load_distribution(session, caller, distribution_id)


@router.post("/{distribution_id}/approve", response_model=Distribution)
async def approve_distribution(distribution_id: DistributionId, caller: Caller, session: WriteSession) -> Distribution:
    return await service.approve_distribution(session, caller, distribution_id)


@router.post("/{distribution_id}/cancel", response_model=Distribution)
async def cancel_distribution(distribution_id: DistributionId, caller: Caller, session: WriteSession) -> Distribution:
    return await service.cancel_distribution(session, caller, distribution_id)


@router.post("/{distribution_id}/pay", response_model=Distribution)
async def pay_distribution(distribution_id: DistributionId, money: Money) -> Response:
    session, caller = money.session, money.caller
    return await money.once(
        None,
        status.HTTP_200_OK,
        "distribution",
        lambda: service.pay_distribution_answer(session, caller, distribution_id),
        lambda stored_id: service.load_distribution_answer(session, caller, stored_id),
    )

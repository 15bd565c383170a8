"""The LP portal: the signed-in lp user's positions in every fund their investor committed to."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.contracts.funds import (
    InvestorCapitalCallPage,
    InvestorDistributionPage,
    InvestorNotFound,
    Portfolio,
)
from cornerstone.contracts.types import SINGLE_LINE

router = APIRouter(prefix="/api/portfolio", tags=["portfolio"])

Lp = Annotated[Principal, Depends(require(Permission.PORTFOLIO_READ))]


@router.get("", response_model=Portfolio)
async def get_portfolio(user: Lp, kernel: Kernel) -> Any:
    """Committed, contributed, unfunded, distributed, NAV share, DPI, TVPI and IRR per fund."""
    return await kernel.request("GET", f"/investors/{_own_investor(user)}/portfolio", user)


def _own_investor(user: Principal) -> str:
    if user.investor_id is None:
        raise InvestorNotFound()
    return user.investor_id


@router.get("/capital-calls", response_model=InvestorCapitalCallPage)
async def list_my_capital_calls(
    user: Lp,
    kernel: Kernel,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512), SINGLE_LINE] = None,
) -> Any:
    """The capital calls of the lp's funds, newest first: each call's terms and the lp's own share, what of it
    is paid and what is outstanding (never the call's total or another investor's share)."""
    path = f"/investors/{_own_investor(user)}/capital-calls"
    return await kernel.request("GET", path, user, params={"limit": limit, "cursor": cursor})


@router.get("/distributions", response_model=InvestorDistributionPage)
async def list_my_distributions(
    user: Lp,
    kernel: Kernel,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512), SINGLE_LINE] = None,
) -> Any:
    """The distributions of the lp's funds once approved, newest first, each with the lp's own share only."""
    path = f"/investors/{_own_investor(user)}/distributions"
    return await kernel.request("GET", path, user, params={"limit": limit, "cursor": cursor})

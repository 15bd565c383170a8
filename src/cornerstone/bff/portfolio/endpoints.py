"""The LP portal: the signed-in lp user's positions in every fund their investor committed to."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.contracts.funds import InvestorNotFound, Portfolio

router = APIRouter(prefix="/api/portfolio", tags=["portfolio"])

Lp = Annotated[Principal, Depends(require(Permission.PORTFOLIO_READ))]


@router.get("", response_model=Portfolio)
async def get_portfolio(user: Lp, kernel: Kernel) -> Any:
    """Committed, contributed, unfunded, distributed, NAV share, DPI, TVPI and IRR per fund."""
    if user.investor_id is None:
        raise InvestorNotFound()
    return await kernel.request("GET", f"/investors/{user.investor_id}/portfolio", user)

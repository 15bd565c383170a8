"""Public investor routes. Sensitive identifiers come back masked from the kernel; an lp user
reaches only the investor they are linked to (any other id answers like a missing one)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status

from cornerstone.bff.audit.middleware import audited, note_change
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission, Role
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.contracts.funds import Investor, InvestorCreate, InvestorNotFound, InvestorPage, Statement
from cornerstone.contracts.types import SINGLE_LINE

router = APIRouter(prefix="/api/investors", tags=["investors"])

Reader = Annotated[Principal, Depends(require(Permission.INVESTORS_READ))]
OneReader = Annotated[Principal, Depends(require(Permission.INVESTOR_READ_OWN))]
StatementReader = Annotated[Principal, Depends(require(Permission.STATEMENTS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.INVESTORS_WRITE))]
InvestorId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def own_investor_only(user: Principal, investor_id: str) -> None:
    """An lp sees their own investor only; another id is the same 404 as one that does not exist."""
    if user.role == Role.LP and user.investor_id != investor_id:
        raise InvestorNotFound()


@router.get("", response_model=InvestorPage)
async def list_investors(
    user: Reader,
    kernel: Kernel,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512), SINGLE_LINE] = None,
) -> Any:
    """Investors of the caller's org, newest first; tax ids and bank numbers masked."""
    return await kernel.request("GET", "/investors", user, params={"limit": limit, "cursor": cursor})


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Investor,
    openapi_extra=audited("investor.create", "investor"),
)
async def create_investor(body: InvestorCreate, request: Request, user: Writer, kernel: Kernel) -> Any:
    """Add an investor. ``tax_id``, ``bank_account`` and ``bank_routing`` are stored encrypted and
    only ever returned masked (last four characters kept)."""
    investor = await kernel.request("POST", "/investors", user, json=body.model_dump(mode="json"))
    note_change(request, None, investor)
    return investor


@router.get("/{investor_id}", response_model=Investor)
async def get_investor(investor_id: InvestorId, user: OneReader, kernel: Kernel) -> Any:
    """One investor (an lp user: only their own)."""
    own_investor_only(user, investor_id)
    return await kernel.request("GET", f"/investors/{investor_id}", user)


@router.get("/{investor_id}/statement", response_model=Statement)
async def get_statement(
    investor_id: InvestorId,
    user: StatementReader,
    kernel: Kernel,
    fund_id: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"), SINGLE_LINE],
    as_of: date | None = None,
) -> Any:
    """The investor's capital account in one fund as of a date (default today), with its ledger entries."""
    own_investor_only(user, investor_id)
    return await kernel.request(
        "GET",
        f"/investors/{investor_id}/statement",
        user,
        params={"fund_id": fund_id, "as_of": as_of.isoformat() if as_of else None},
    )

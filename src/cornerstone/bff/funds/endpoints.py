"""Public fund routes. The kernel computes and stores; these authenticate, authorize and forward."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status

from cornerstone.bff.audit.middleware import audited, note_change
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.kernel_client.dependencies import Kernel
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

router = APIRouter(prefix="/api/funds", tags=["funds"])

Reader = Annotated[Principal, Depends(require(Permission.FUNDS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.FUNDS_WRITE))]
# Put into the kernel's URL path: only characters that cannot change that URL.
FundId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=512), SINGLE_LINE]


@router.get("", response_model=FundPage)
async def list_funds(user: Reader, kernel: Kernel, limit: Limit = 50, cursor: Cursor = None) -> Any:
    """Funds of the caller's org, newest first, each with its figures (committed, contributed, NAV, multiples)."""
    return await kernel.request("GET", "/funds", user, params={"limit": limit, "cursor": cursor})


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Fund, openapi_extra=audited("fund.create", "fund"))
async def create_fund(body: FundCreate, request: Request, user: Writer, kernel: Kernel) -> Any:
    """Create a fund with its waterfall terms (rates as decimal strings)."""
    fund = await kernel.request("POST", "/funds", user, json=body.model_dump(mode="json"))
    note_change(request, None, fund)
    return fund


@router.get("/{fund_id}", response_model=Fund)
async def get_fund(fund_id: FundId, user: Reader, kernel: Kernel) -> Any:
    """One fund and its figures, derived from the ledger on every read."""
    return await kernel.request("GET", f"/funds/{fund_id}", user)


@router.post(
    "/{fund_id}/valuations",
    status_code=status.HTTP_201_CREATED,
    response_model=Valuation,
    openapi_extra=audited("fund.valuation", "fund"),
)
async def add_valuation(fund_id: FundId, body: ValuationCreate, request: Request, user: Writer, kernel: Kernel) -> Any:
    """Record a NAV mark as of a date; the latest mark drives RVPI and TVPI."""
    valuation = await kernel.request("POST", f"/funds/{fund_id}/valuations", user, json=body.model_dump(mode="json"))
    note_change(request, None, valuation)
    return valuation


@router.get("/{fund_id}/commitments", response_model=CommitmentPage)
async def list_commitments(
    fund_id: FundId, user: Reader, kernel: Kernel, limit: Limit = 50, cursor: Cursor = None
) -> Any:
    """The fund's commitment entries, newest first."""
    return await kernel.request("GET", f"/funds/{fund_id}/commitments", user, params={"limit": limit, "cursor": cursor})


@router.post(
    "/{fund_id}/commitments",
    status_code=status.HTTP_201_CREATED,
    response_model=Commitment,
    openapi_extra=audited("commitment.create", "fund"),
)
async def add_commitment(
    fund_id: FundId, body: CommitmentCreate, request: Request, user: Writer, kernel: Kernel
) -> Any:
    """Add a commitment entry; an increase is a new entry, never an edit."""
    commitment = await kernel.request("POST", f"/funds/{fund_id}/commitments", user, json=body.model_dump(mode="json"))
    note_change(request, None, commitment)
    return commitment

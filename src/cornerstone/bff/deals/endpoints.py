"""Public deal routes. The kernel decides; these routes authenticate, authorize and forward."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status

from cornerstone.bff.audit.middleware import audited, note_change
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.deals.schemas import (
    Deal,
    DealCreate,
    DealHistory,
    DealPage,
    DealUpdate,
    TransitionOption,
    TransitionRequest,
)
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.contracts.deals import Stage
from cornerstone.contracts.snapshots import DealSnapshot
from cornerstone.contracts.types import SINGLE_LINE

router = APIRouter(prefix="/api/deals", tags=["deals"])

Reader = Annotated[Principal, Depends(require(Permission.DEALS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.DEALS_WRITE))]
Mover = Annotated[Principal, Depends(require(Permission.DEALS_TRANSITION))]
SnapshotReader = Annotated[Principal, Depends(require(Permission.SNAPSHOTS_READ))]
# The id is put into the kernel's URL path, so it is limited to characters that cannot change
# that URL: `?`, `#`, `%` or a `.`/`..` segment would otherwise retarget the kernel call
# (another route, a query string, a trailing-slash redirect the client cannot parse).
DealId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("", response_model=DealPage)
async def list_deals(
    user: Reader,
    kernel: Kernel,
    stage: Stage | None = None,
    q: Annotated[str | None, Query(max_length=200), SINGLE_LINE] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512), SINGLE_LINE] = None,
) -> Any:
    """Deals of the caller's org, newest first; filter by stage, search name and city with ``q``."""
    return await kernel.request(
        "GET", "/deals", user, params={"stage": stage, "q": q, "limit": limit, "cursor": cursor}
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Deal, openapi_extra=audited("deal.create", "deal"))
async def create_deal(body: DealCreate, request: Request, user: Writer, kernel: Kernel) -> Any:
    """Create a deal; it starts in ``intake`` at version 1."""
    deal = await kernel.request("POST", "/deals", user, json=body.model_dump(mode="json"))
    note_change(request, None, deal)
    return deal


@router.get("/{deal_id}", response_model=Deal)
async def get_deal(deal_id: DealId, user: Reader, kernel: Kernel) -> Any:
    """One deal. Another org's deal is 404, exactly like one that does not exist."""
    return await kernel.request("GET", f"/deals/{deal_id}", user)


@router.patch("/{deal_id}", response_model=Deal, openapi_extra=audited("deal.update", "deal"))
async def update_deal(deal_id: DealId, body: DealUpdate, request: Request, user: Writer, kernel: Kernel) -> Any:
    """Change fields of a deal; ``version`` must be current (409 ``VERSION_CONFLICT`` otherwise)."""
    before = await kernel.request("GET", f"/deals/{deal_id}", user)
    after = await kernel.request(
        "PATCH", f"/deals/{deal_id}", user, json=body.model_dump(mode="json", exclude_unset=True)
    )
    note_change(request, before, after)
    return after


@router.get("/{deal_id}/transitions", response_model=list[TransitionOption])
async def preview_transitions(deal_id: DealId, user: Reader, kernel: Kernel) -> Any:
    """Every edge out of the deal's stage, whether the caller may take it now, and what is unmet."""
    return await kernel.request("GET", f"/deals/{deal_id}/transitions", user)


@router.post("/{deal_id}/transitions", response_model=Deal, openapi_extra=audited("deal.transition", "deal"))
async def transition_deal(
    deal_id: DealId, body: TransitionRequest, request: Request, user: Mover, kernel: Kernel
) -> Any:
    """Move a deal to another stage through the kernel's state machine and gates."""
    before = await kernel.request("GET", f"/deals/{deal_id}", user)
    after = await kernel.request(
        "POST", f"/deals/{deal_id}/transitions", user, json=body.model_dump(mode="json", exclude_unset=True)
    )
    note_change(request, before, after)
    return after


@router.get("/{deal_id}/history", response_model=DealHistory)
async def deal_history(
    deal_id: DealId,
    user: Reader,
    kernel: Kernel,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$"), SINGLE_LINE] = None,
) -> Any:
    """The kernel events of this deal, oldest first, each with its place in the org's hash chain."""
    await kernel.request("GET", f"/deals/{deal_id}", user)  # 404 unless the caller may see the deal
    page = await kernel.request(
        "GET", "/events", user, params={"subject_id": deal_id, "after": cursor or 0, "limit": limit}
    )
    next_after = page.get("next_after")
    return {"items": page["items"], "next_cursor": str(next_after) if next_after is not None else None}


@router.get("/{deal_id}/snapshot", response_model=DealSnapshot)
async def deal_snapshot(deal_id: DealId, user: SnapshotReader, kernel: Kernel, at: datetime | None = None) -> Any:
    """The deal as it stood at ``at`` (with its UTC offset; now when omitted): stage, votes,
    materials, checklist and every outgoing gate, replayed from the records of that time. The same
    past instant always gives the same answer."""
    params = {"at": at.isoformat()} if at is not None else None
    return await kernel.request("GET", f"/deals/{deal_id}/snapshot", user, params=params)

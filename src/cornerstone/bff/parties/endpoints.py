"""A deal's external parties. The BFF owns users, so it checks that the user is an ``external``
user of the org before the kernel records the party."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, status
from sqlalchemy import select

from cornerstone.bff.audit.middleware import audited, note_change
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission, Role
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.bff.models import UserRow
from cornerstone.bff.sessions import ReadSession
from cornerstone.contracts.evidence import Party, PartyCreate, PartyList
from cornerstone.kit.problems import invalid_field

router = APIRouter(prefix="/api/deals/{deal_id}/parties", tags=["parties"])

Reader = Annotated[Principal, Depends(require(Permission.PARTIES_READ))]
Writer = Annotated[Principal, Depends(require(Permission.PARTIES_WRITE))]
DealId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("", response_model=PartyList)
async def list_parties(deal_id: DealId, user: Reader, kernel: Kernel) -> Any:
    """The deal's external parties and their deal roles."""
    return await kernel.request("GET", f"/deals/{deal_id}/parties", user)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=Party, openapi_extra=audited("deal.party_add", "deal")
)
async def add_party(
    deal_id: DealId, body: PartyCreate, request: Request, user: Writer, session: ReadSession, kernel: Kernel
) -> Any:
    """Make an ``external`` user of the org a party to the deal (counsel, lender, escrow, property manager)."""
    await kernel.request("GET", f"/deals/{deal_id}", user)  # 404 unless the caller may see the deal
    party_user = (
        await session.execute(select(UserRow).where(UserRow.org_id == user.org_id, UserRow.id == body.user_id))
    ).scalar_one_or_none()
    if party_user is None or party_user.role != Role.EXTERNAL or not party_user.active:
        raise invalid_field("body.user_id", "not an active external user of the org", "party")
    party = await kernel.request("POST", f"/deals/{deal_id}/parties", user, json=body.model_dump(mode="json"))
    note_change(request, None, party)
    return party

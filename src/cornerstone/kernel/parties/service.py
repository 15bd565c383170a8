"""Deal parties. The BFF, which owns users, checks that the user is an ``external`` user of the
org; the kernel records the role, scopes what the party sees, and counts their approvals where
a gate names their deal role."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.evidence import DealRole, Party, PartyCreate, PartyList
from cornerstone.kernel.deals import repository as deals
from cornerstone.kernel.events.service import append_event
from cornerstone.kernel.models import DealPartyRow
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.ids import new_id
from cornerstone.kit.problems import Conflict
from cornerstone.kit.service_auth import ServiceCaller


class PartyExists(Conflict):
    """The user is already a party to the deal."""

    code = "PARTY_EXISTS"
    title = "Already a party to the deal"


def to_contract(row: DealPartyRow) -> Party:
    return Party(
        id=row.id,
        deal_id=row.deal_id,
        user_id=row.user_id,
        deal_role=DealRole(row.deal_role),
        created_at=as_utc(row.created_at),
    )


async def add_party(session: AsyncSession, caller: ServiceCaller, deal_id: str, body: PartyCreate) -> Party:
    deal = await deals.visible_deal(session, caller, deal_id)
    row = DealPartyRow(
        id=new_id(),
        org_id=caller.org_id,
        deal_id=deal.id,
        user_id=body.user_id,
        deal_role=body.deal_role.value,
        created_by=caller.actor_id,
        created_at=utcnow(),
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        raise PartyExists("This user is already a party to the deal.") from None
    party = to_contract(row)
    await append_event(
        session,
        caller,
        type="deal.party_added",
        subject_type="deal",
        subject_id=deal.id,
        payload={"party_id": row.id, "user_id": row.user_id, "deal_role": row.deal_role},
    )
    return party


async def list_parties(session: AsyncSession, caller: ServiceCaller, deal_id: str) -> PartyList:
    deal = await deals.visible_deal(session, caller, deal_id)
    rows = (
        await session.execute(
            select(DealPartyRow)
            .where(DealPartyRow.org_id == caller.org_id, DealPartyRow.deal_id == deal.id)
            .order_by(DealPartyRow.created_at, DealPartyRow.id)
        )
    ).scalars()
    return PartyList(items=[to_contract(row) for row in rows])


async def deal_role_of(session: AsyncSession, caller: ServiceCaller, deal_id: str) -> str | None:
    """The caller's deal role on the deal, if they are a party to it."""
    return (
        await session.execute(
            select(DealPartyRow.deal_role).where(
                DealPartyRow.org_id == caller.org_id,
                DealPartyRow.deal_id == deal_id,
                DealPartyRow.user_id == caller.actor_id,
            )
        )
    ).scalar_one_or_none()

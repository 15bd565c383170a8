"""Investor use cases. Tax ids and bank numbers are encrypted before they reach the database and
leave the kernel only masked; they never enter an event payload or a log line."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.funds import (
    SENSITIVE_INVESTOR_FIELDS,
    Investor,
    InvestorCreate,
    InvestorNotFound,
    InvestorPage,
    InvestorType,
)
from cornerstone.kernel.events.service import append_event
from cornerstone.kernel.models import InvestorRow
from cornerstone.kernel.paging import keyset_page
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.field_crypto import FieldCipher, mask_account_number, mask_tax_id
from cornerstone.kit.ids import new_id
from cornerstone.kit.service_auth import ServiceCaller

_MASKS = {"tax_id": mask_tax_id, "bank_account": mask_account_number, "bank_routing": mask_account_number}


def _context(row: InvestorRow, field: str) -> str:
    # Bound into the ciphertext: a token copied to another row, field or org does not decrypt.
    return f"{row.org_id}:{row.id}:{field}"


def to_contract(row: InvestorRow, cipher: FieldCipher) -> Investor:
    masked: dict[str, str | None] = {}
    for field in SENSITIVE_INVESTOR_FIELDS:
        token = getattr(row, f"{field}_encrypted")
        masked[field] = _MASKS[field](cipher.decrypt(token, context=_context(row, field))) if token else None
    return Investor(
        id=row.id,
        name=row.name,
        type=InvestorType(row.type),
        email=row.email,
        created_at=as_utc(row.created_at),
        **masked,
    )


async def read_investor(session: AsyncSession, caller: ServiceCaller, investor_id: str) -> InvestorRow:
    row = (
        await session.execute(
            select(InvestorRow).where(InvestorRow.org_id == caller.org_id, InvestorRow.id == investor_id)
        )
    ).scalar_one_or_none()
    if row is None:
        raise InvestorNotFound()
    return row


async def create_investor(
    session: AsyncSession, caller: ServiceCaller, body: InvestorCreate, cipher: FieldCipher
) -> Investor:
    row = InvestorRow(
        id=new_id(),
        org_id=caller.org_id,
        name=body.name,
        type=body.type.value,
        email=body.email,
        created_by=caller.actor_id,
        created_at=utcnow(),
    )
    for field in SENSITIVE_INVESTOR_FIELDS:
        value = getattr(body, field)
        setattr(row, f"{field}_encrypted", cipher.encrypt(value, context=_context(row, field)) if value else None)
    session.add(row)
    await session.flush()
    investor = to_contract(row, cipher)
    # Only what is safe to keep forever in a hash-chained log: no identifiers, masked or not.
    await append_event(
        session,
        caller,
        type="investor.created",
        subject_type="investor",
        subject_id=row.id,
        payload={
            "type": investor.type.value,
            **{f"has_{field}": getattr(body, field) is not None for field in SENSITIVE_INVESTOR_FIELDS},
        },
    )
    return investor


async def list_investors(
    session: AsyncSession, caller: ServiceCaller, cipher: FieldCipher, *, limit: int, cursor: str | None
) -> InvestorPage:
    statement = select(InvestorRow).where(InvestorRow.org_id == caller.org_id)
    rows, next_cursor = await keyset_page(session, statement, InvestorRow, limit=limit, cursor=cursor)
    return InvestorPage(items=[to_contract(row, cipher) for row in rows], next_cursor=next_cursor)

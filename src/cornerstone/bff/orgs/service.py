"""Organizations (tenants) and their first admin, created by an operator."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.bff.authz.permissions import Role
from cornerstone.bff.models import OrgRow
from cornerstone.bff.users.service import add_user
from cornerstone.kit.clock import utcnow
from cornerstone.kit.ids import new_id


@dataclass(frozen=True, slots=True)
class CreatedOrg:
    org_id: str
    admin_id: str


async def create_org(session: AsyncSession, *, name: str, admin_email: str, admin_password: str) -> CreatedOrg:
    org = OrgRow(id=new_id(), name=name, created_at=utcnow())
    session.add(org)
    await session.flush()
    admin = await add_user(
        session, org_id=org.id, email=admin_email, role=Role.ADMIN, password=admin_password, investor_id=None
    )
    return CreatedOrg(org_id=org.id, admin_id=admin.id)

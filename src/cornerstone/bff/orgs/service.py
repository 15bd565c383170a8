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


def new_org_id() -> str:
    return new_id()


async def create_org(
    session: AsyncSession, *, org_id: str, name: str, admin_email: str, admin_password: str
) -> CreatedOrg:
    """Create org ``org_id`` (from ``new_org_id()``) in a session scoped to that same org."""
    org = OrgRow(id=org_id, name=name, created_at=utcnow())
    session.add(org)
    await session.flush()
    admin = await add_user(
        session, org_id=org.id, email=admin_email, role=Role.ADMIN, password=admin_password, investor_id=None
    )
    return CreatedOrg(org_id=org.id, admin_id=admin.id)

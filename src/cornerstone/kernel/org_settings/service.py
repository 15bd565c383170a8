"""An org's gate thresholds. Defaults apply until an admin sets them; they can only be made
stricter than the defaults (an IC quorum below the default is refused by the schema)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.evidence import OrgSettings, OrgSettingsUpdate
from cornerstone.kernel.deals.gates import ic_quorum
from cornerstone.kernel.events.service import append_event
from cornerstone.kernel.models import OrgSettingRow
from cornerstone.kit.clock import utcnow
from cornerstone.kit.problems import Forbidden
from cornerstone.kit.service_auth import ServiceCaller


async def read_settings(session: AsyncSession, caller: ServiceCaller) -> OrgSettings:
    return OrgSettings(ic_quorum=await ic_quorum(session, caller))


async def update_settings(session: AsyncSession, caller: ServiceCaller, body: OrgSettingsUpdate) -> OrgSettings:
    if caller.actor_role != "admin":
        raise Forbidden("Only an admin changes the org's settings.")
    row = await session.get(OrgSettingRow, caller.org_id)
    before = await read_settings(session, caller)
    if row is None:
        row = OrgSettingRow(
            org_id=caller.org_id, ic_quorum=body.ic_quorum, updated_by=caller.actor_id, updated_at=utcnow()
        )
        session.add(row)
    else:
        row.ic_quorum, row.updated_by, row.updated_at = body.ic_quorum, caller.actor_id, utcnow()
    await session.flush()
    after = OrgSettings(ic_quorum=row.ic_quorum)
    await append_event(
        session,
        caller,
        type="org.settings_changed",
        subject_type="org",
        subject_id=caller.org_id,
        payload={"before": before.model_dump(), "after": after.model_dump()},
    )
    return after

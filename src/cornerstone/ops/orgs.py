"""Creating orgs from the command line (the BFF owns orgs and users).

Operator commands connect with the BFF's migration URL (the role that owns the tables); the
new org's rows are written in a unit of work scoped to that org, like any other write.
"""

from __future__ import annotations

import asyncio

from cornerstone.bff.config import BffSettings
from cornerstone.bff.orgs.service import CreatedOrg, create_org, new_org_id
from cornerstone.kit.db import Database


async def create_org_in(settings: BffSettings, *, name: str, admin_email: str, admin_password: str) -> CreatedOrg:
    database = Database(settings.resolved_bff_migration_database_url())
    org_id = new_org_id()
    try:
        async with database.session(write=True, org_id=org_id) as session:
            return await create_org(
                session, org_id=org_id, name=name, admin_email=admin_email, admin_password=admin_password
            )
    finally:
        await database.dispose()


def create_org_sync(settings: BffSettings, *, name: str, admin_email: str, admin_password: str) -> CreatedOrg:
    return asyncio.run(create_org_in(settings, name=name, admin_email=admin_email, admin_password=admin_password))

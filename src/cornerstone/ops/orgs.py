"""Creating orgs from the command line (the BFF owns orgs and users)."""

from __future__ import annotations

import asyncio

from cornerstone.bff.config import BffSettings
from cornerstone.bff.orgs.service import CreatedOrg, create_org
from cornerstone.kit.db import Database


async def create_org_in(settings: BffSettings, *, name: str, admin_email: str, admin_password: str) -> CreatedOrg:
    database = Database(settings.resolved_bff_database_url())
    try:
        async with database.session(write=True) as session:
            return await create_org(session, name=name, admin_email=admin_email, admin_password=admin_password)
    finally:
        await database.dispose()


def create_org_sync(settings: BffSettings, *, name: str, admin_email: str, admin_password: str) -> CreatedOrg:
    return asyncio.run(create_org_in(settings, name=name, admin_email=admin_email, admin_password=admin_password))

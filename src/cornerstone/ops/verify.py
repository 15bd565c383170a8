"""``cornerstone kernel verify``: recompute every kernel event hash from the stored rows."""

from __future__ import annotations

import asyncio

from cornerstone.kernel.config import KernelSettings
from cornerstone.kernel.events.service import orgs_with_events, verify_chain
from cornerstone.kit.db import Database
from cornerstone.kit.hashchain import ChainReport


async def verify_kernel_chains(settings: KernelSettings, org_id: str | None = None) -> list[ChainReport]:
    database = Database(settings.resolved_kernel_database_url())
    try:
        async with database.session() as session:
            orgs = [org_id] if org_id else await orgs_with_events(session)
            return [await verify_chain(session, org) for org in orgs]
    finally:
        await database.dispose()


def verify_kernel_chains_sync(settings: KernelSettings, org_id: str | None = None) -> list[ChainReport]:
    return asyncio.run(verify_kernel_chains(settings, org_id))

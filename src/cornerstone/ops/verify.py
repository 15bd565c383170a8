"""``cornerstone kernel verify`` and ``cornerstone audit verify``: recompute every hash from the stored rows."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.bff.audit.service import orgs_with_records, verify_audit_chain
from cornerstone.kernel.events.service import orgs_with_events, verify_chain
from cornerstone.kit.db import Database
from cornerstone.kit.hashchain import ChainReport


async def _verify_all(
    url: str,
    org_id: str | None,
    orgs: Callable[[AsyncSession], Awaitable[list[str]]],
    verify: Callable[[AsyncSession, str], Awaitable[ChainReport]],
) -> list[ChainReport]:
    database = Database(url)
    try:
        if org_id:
            targets = [org_id]
        else:
            # The one cross-org read: which orgs have a chain (owner role only, read-only).
            async with database.session(all_orgs=True) as session:
                targets = await orgs(session)
        reports = []
        for target in targets:
            async with database.session(org_id=target) as session:
                reports.append(await verify(session, target))
        return reports
    finally:
        await database.dispose()


def verify_kernel_chains_sync(database_url: str, org_id: str | None = None) -> list[ChainReport]:
    return asyncio.run(_verify_all(database_url, org_id, orgs_with_events, verify_chain))


def verify_audit_chains_sync(database_url: str, org_id: str | None = None) -> list[ChainReport]:
    return asyncio.run(_verify_all(database_url, org_id, orgs_with_records, verify_audit_chain))


def describe(reports: list[ChainReport], noun: str) -> tuple[list[str], bool]:
    """Operator-facing lines for the reports, and whether every chain verified."""
    if not reports:
        return [f"no {noun} to verify"], True
    lines = []
    for report in reports:
        if report.ok:
            lines.append(f"ok   org {report.org_id}: {report.checked} {noun} verified")
        else:
            lines.append(
                f"BAD  org {report.org_id}: {noun[:-1]} {report.first_bad_id} (seq {report.first_bad_seq}): "
                f"{report.reason}; {report.checked} {noun} before it verified"
            )
    return lines, all(report.ok for report in reports)

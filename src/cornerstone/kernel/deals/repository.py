"""Deal queries. Every statement starts from ``scoped_deals``: the org (and, for external
parties, the deals they are party to) is applied in one place, never by hand."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import Row, Select, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.kernel.errors import DealNotFound
from cornerstone.kernel.models import DealPartyRow, DealRow
from cornerstone.kernel.paging import keyset_page
from cornerstone.kit.db import Database
from cornerstone.kit.service_auth import ServiceCaller


def scoped_deals(caller: ServiceCaller) -> Select[DealRow]:
    return _scoped(select(DealRow), caller.org_id, caller.actor_id, external=caller.actor_role == "external")


SelectT = TypeVar("SelectT", bound=Select[Any])


def _scoped(statement: SelectT, org_id: Any, actor_id: Any, *, external: bool) -> SelectT:
    """The one scoping rule, on values or on bound parameters (the prepared read below)."""
    statement = statement.where(DealRow.org_id == org_id)
    if external:
        # External parties see only the deals they are a party to.
        party_of = select(DealPartyRow.deal_id).where(DealPartyRow.org_id == org_id, DealPartyRow.user_id == actor_id)
        statement = statement.where(DealRow.id.in_(party_of))
    return statement


# GET /deals/{id}, the hottest read: built once (building a statement costs more than running it),
# Core rows rather than ORM objects; for staff and for external parties.
_DEAL_BY_ID = {
    external: _scoped(select(DealRow.__table__), bindparam("org_id"), bindparam("actor_id"), external=external).where(
        DealRow.id == bindparam("deal_id")
    )
    for external in (False, True)
}


async def read_visible_deal(database: Database, caller: ServiceCaller, deal_id: str) -> Row[Any]:
    """The deal as the caller may see it, read on its own (``Database.read_one``), else 404."""
    statement = _DEAL_BY_ID[caller.actor_role == "external"]
    params = {"org_id": caller.org_id, "actor_id": caller.actor_id, "deal_id": deal_id}
    row = await database.read_one(statement, params, org_id=caller.org_id)
    if row is None:
        raise DealNotFound()
    return row


async def get_deal(
    session: AsyncSession, caller: ServiceCaller, deal_id: str, *, for_update: bool = False
) -> DealRow | None:
    """The deal if the caller may see it. ``for_update`` locks its row until the transaction
    ends (PostgreSQL; SQLite's write transaction already holds the database), so the writes that
    feed or pass a deal's gates (votes, materials, checklist items, overrides, transitions) are
    serialized per deal: a gate is never passed on evidence a concurrent write is withdrawing."""
    statement = scoped_deals(caller).where(DealRow.id == deal_id)
    if for_update:
        statement = statement.with_for_update(of=DealRow)
    result = await session.execute(statement)
    return result.scalar_one_or_none()


async def visible_deal(
    session: AsyncSession, caller: ServiceCaller, deal_id: str, *, for_update: bool = False
) -> DealRow:
    """The deal as the caller may see it (an external party: only their deals), else 404."""
    row = await get_deal(session, caller, deal_id, for_update=for_update)
    if row is None:
        raise DealNotFound()
    return row


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_deals(
    session: AsyncSession,
    caller: ServiceCaller,
    *,
    stage: str | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[DealRow], str | None]:
    """Newest first, keyset-paginated on ``(created_at, id)`` so pages never skip or repeat."""
    statement = scoped_deals(caller)
    if stage is not None:
        statement = statement.where(DealRow.stage == stage)
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        statement = statement.where(
            or_(
                func.lower(DealRow.name).like(pattern, escape="\\"),
                func.lower(DealRow.city).like(pattern, escape="\\"),
            )
        )
    return await keyset_page(session, statement, DealRow, limit=limit, cursor=cursor)


async def compare_and_set(
    session: AsyncSession, caller: ServiceCaller, deal_id: str, expected_version: int, values: Mapping[str, object]
) -> bool:
    """Write ``values`` and bump the version only if the deal is still at ``expected_version``.

    One UPDATE with the version in its WHERE clause: two concurrent writers cannot both win.
    """
    result = await session.execute(
        update(DealRow)
        .where(DealRow.org_id == caller.org_id, DealRow.id == deal_id, DealRow.version == expected_version)
        .values(**values, version=expected_version + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)

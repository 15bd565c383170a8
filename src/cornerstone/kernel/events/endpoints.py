"""Kernel event log read API, for consumers (worker, webhooks) and deal history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cornerstone.contracts.events import EventPage
from cornerstone.contracts.types import SINGLE_LINE
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.events import service
from cornerstone.kernel.sessions import ReadSession

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}/events", tags=["events"])


@router.get("", response_model=EventPage)
async def list_events(
    caller: Caller,
    session: ReadSession,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    subject_id: Annotated[str | None, Query(max_length=64), SINGLE_LINE] = None,
) -> EventPage:
    rows = await service.list_events(session, caller.org_id, after=after, limit=limit, subject_id=subject_id)
    return EventPage(
        items=[service.to_contract(row) for row in rows],
        next_after=rows[-1].seq if len(rows) == limit else None,
    )

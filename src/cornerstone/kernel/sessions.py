"""The kernel's request-scoped units of work, confined to the org of the verified service token.

Each session depends on the caller (``service_caller``), so the org is known and set on the
transaction (``app.org_id``, row-level security on PostgreSQL) before any query runs.
scope="function": the commit happens when the endpoint returns, before the response is sent,
so a client never sees success for a write that did not commit.
A write session carries the event checkpoint key (``session.info``), so every event it appends is
signed into ``event_checkpoints`` (``events.service.append_event``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.kernel.auth import Caller
from cornerstone.kit.db import Database
from cornerstone.kit.hashchain import CHECKPOINT_KEY_INFO


async def _read_session(request: Request, caller: Caller) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.session(org_id=caller.org_id) as session:
        yield session


async def _write_session(request: Request, caller: Caller) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.session(write=True, org_id=caller.org_id) as session:
        session.info[CHECKPOINT_KEY_INFO] = request.app.state.events_checkpoint_key
        yield session


ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
WriteSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]

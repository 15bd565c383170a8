"""The BFF's request-scoped units of work, confined to the org of the authenticated principal.

Each session depends on the principal (``current_user``, resolved once per request), so the
org is known and set on the transaction (``app.org_id``, row-level security on PostgreSQL)
before any query runs; a request without a valid token never gets a session. Sign-in, which
has no principal yet, uses ``users.service.find_for_sign_in``; the audit layer opens its own
session scoped to the org of the record it writes.

scope="function": the commit happens when the endpoint returns, before the response is sent,
so a client never sees success for a write that did not commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.bff.auth.dependencies import CurrentUser
from cornerstone.bff.auth.generations import publish_auth_changes
from cornerstone.kit.db import Database


async def _read_session(request: Request, user: CurrentUser) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.session(org_id=user.org_id) as session:
        yield session


async def _write_session(request: Request, user: CurrentUser) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.session(write=True, org_id=user.org_id) as session:
        yield session
    # Committed: a change to someone's sign-in state (auth.generations) binds their next request.
    await publish_auth_changes(request.app.state.auth_generations, session)


ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
WriteSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]

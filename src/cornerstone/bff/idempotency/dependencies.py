"""``Idempotent``: the dependency every money POST (💰 in API.md) declares.

It depends on ``current_user`` itself, so it always runs after authentication (a request
without a valid token is a 401, never a 400 about its key). Declare it after the route's
permission dependency (``user: Writer, idem: Idempotent``) so that a role that may not call the
route is refused with 403 before its key is looked at.

The claim's lease is ``app.state.idempotency_lease``, set at start-up from the app's settings
(``CORNERSTONE_IDEMPOTENCY_LEASE_SECONDS``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, Request

from cornerstone.bff.auth.dependencies import CurrentUser
from cornerstone.bff.idempotency.service import Idempotency, request_fingerprint
from cornerstone.kit.db import Database
from cornerstone.kit.idempotency_keys import KEY_HEADER, MAX_KEY_LENGTH, validated_key


def _lease(request: Request) -> timedelta:
    lease: timedelta = request.app.state.idempotency_lease
    return lease


async def idempotency(
    request: Request,
    user: CurrentUser,
    # Declared for the OpenAPI document only; read (all of its occurrences) from the request below.
    # Optional here because a missing key must be a 400 IDEMPOTENCY_KEY_REQUIRED, not a 422.
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=KEY_HEADER,
            description=f"Required. 1-{MAX_KEY_LENGTH} printable ASCII characters, the same on every retry; "
            "the outcome is stored for 24 hours and replayed with `Idempotency-Replayed: true`.",
        ),
    ] = None,
) -> Idempotency:
    key = validated_key(request.headers.getlist(KEY_HEADER))
    body = await request.body()  # already read (and cached) by FastAPI for the route's body parameter
    database: Database = request.app.state.database
    return Idempotency(
        database,
        org_id=user.org_id,
        user_id=user.user_id,
        key=key,
        fingerprint=request_fingerprint(request.method, request.url.path, body),
        lease=_lease(request),
    )


Idempotent = Annotated[Idempotency, Depends(idempotency)]

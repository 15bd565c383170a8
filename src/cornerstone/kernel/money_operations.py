"""Money writes happen at most once per idempotency key, inside the kernel itself.

The BFF forwards the client's ``Idempotency-Key`` on every money call. The kernel stores the
first answer under ``(org, key)`` in the same transaction as the money it moved, so a retry —
after a lost response, a kernel restart, or a BFF that never stored the answer — returns that
first answer and moves nothing again. The same key with another payload is refused (422).
Two concurrent first attempts cannot both commit: the primary key on ``(org_id, key)`` fails
the second, which answers 409 ``IDEMPOTENCY_IN_FLIGHT`` (its retry then gets the replay).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.kernel.models import MoneyOperationRow
from cornerstone.kit.canonical import canonical_json
from cornerstone.kit.clock import utcnow
from cornerstone.kit.idempotency_keys import KEY_HEADER, REPLAYED_HEADER, validated_key
from cornerstone.kit.problems import IdempotencyInFlight, IdempotencyKeyReused
from cornerstone.kit.service_auth import ServiceCaller


async def _money_key(request: Request) -> str:
    return validated_key(request.headers.getlist(KEY_HEADER))


MoneyKey = Annotated[str, Depends(_money_key)]


def fingerprint(method: str, path: str, body: Any) -> str:
    """SHA-256 of what makes two calls "the same": method, path and the canonical JSON body."""
    return hashlib.sha256(f"{method}\n{path}\n{canonical_json(body)}".encode()).hexdigest()


async def once(
    session: AsyncSession,
    caller: ServiceCaller,
    request: Request,
    key: str,
    body: BaseModel | None,
    status_code: int,
    action: Callable[[], Awaitable[BaseModel]],
) -> JSONResponse:
    """Run ``action`` unless ``key`` already ran it; either way answer with the first result."""
    request_print = fingerprint(request.method, request.url.path, body.model_dump(mode="json") if body else None)
    stored = (
        await session.execute(
            select(MoneyOperationRow).where(MoneyOperationRow.org_id == caller.org_id, MoneyOperationRow.key == key)
        )
    ).scalar_one_or_none()
    if stored is not None:
        if stored.fingerprint != request_print:
            raise IdempotencyKeyReused("This Idempotency-Key was already used for a different request.")
        return JSONResponse(
            json.loads(stored.response), status_code=stored.status_code, headers={REPLAYED_HEADER: "true"}
        )
    result = (await action()).model_dump(mode="json")
    session.add(
        MoneyOperationRow(
            org_id=caller.org_id,
            key=key,
            fingerprint=request_print,
            status_code=status_code,
            response=canonical_json(result),
            created_at=utcnow(),
        )
    )
    try:
        await session.flush()
    except IntegrityError:
        # Another first attempt with this key committed meanwhile: this one must not.
        raise IdempotencyInFlight("A request with this Idempotency-Key is being processed; retry shortly.") from None
    return JSONResponse(result, status_code=status_code)

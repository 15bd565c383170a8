"""Money writes happen at most once per idempotency key, inside the kernel itself.

The BFF forwards the client's ``Idempotency-Key`` on every money call. The kernel records the
key under ``(org, key)``, with the object the write made or changed, in the same transaction as
the money it moved, so a retry — after a lost response, a kernel restart, or a BFF that never
stored the answer — is answered with that object and moves nothing again. The same key with
another payload is refused (422).
Two concurrent first attempts cannot both commit: the primary key on ``(org_id, key)`` fails
the second, which answers 409 ``IDEMPOTENCY_IN_FLIGHT`` (its retry then gets the replay).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Protocol, TypeVar

import pydantic_core
from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.kernel.auth import Caller
from cornerstone.kernel.models import MoneyOperationRow
from cornerstone.kernel.sessions import WriteSession
from cornerstone.kit.canonical import canonical_json
from cornerstone.kit.clock import utcnow
from cornerstone.kit.idempotency_keys import KEY_HEADER, REPLAYED_HEADER, validated_key
from cornerstone.kit.problems import IdempotencyInFlight, IdempotencyKeyReused
from cornerstone.kit.service_auth import ServiceCaller


def fingerprint(method: str, path: str, body: Any) -> str:
    """SHA-256 of what makes two calls "the same": method, path and the canonical JSON body."""
    return hashlib.sha256(f"{method}\n{path}\n{canonical_json(body)}".encode()).hexdigest()


class MoneyResult(Protocol):
    """What a money write answers with: an object with an id (a capital call, a distribution)."""

    @property
    def id(self) -> str: ...

    def model_dump_json(self) -> str: ...


ContractT = TypeVar("ContractT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class SharesAnswer(Generic[ContractT]):
    """A money write's answer (a capital call, a distribution), its many shares kept as plain dicts.

    A large fund's call has a share per investor. As dicts of ``str`` and ``int``, built in the share model's
    field order by the kernel itself, they are nothing for the garbage collector to walk, where a model per
    share (and its set of fields) is two tracked objects each, enough to bring a full collection about once per
    request. ``model_dump_json`` writes exactly what the full contract's would: the contract is validated
    without its shares and the shares are put in their place. ``contract()`` builds the full model.
    """

    contract_type: type[ContractT]
    fields: dict[str, Any]  # every field of the contract but ``allocations``
    allocations: list[dict[str, Any]]

    @property
    def id(self) -> str:
        return str(self.fields["id"])

    def contract(self) -> ContractT:
        return self.contract_type.model_validate({**self.fields, "allocations": self.allocations})

    def model_dump_json(self) -> str:
        answer = self.contract_type.model_validate({**self.fields, "allocations": []}).model_dump(mode="json")
        answer["allocations"] = self.allocations  # the same key, so the same place
        return pydantic_core.to_json(answer).decode()


def _json_response(result: MoneyResult, status_code: int, headers: dict[str, str] | None = None) -> Response:
    # Serialized by the contract's own (compiled) serializer straight to JSON: the same bytes as a JSONResponse
    # of ``model_dump(mode="json")``, without first building a dict per share (a call has one per investor).
    return Response(result.model_dump_json(), status_code=status_code, headers=headers, media_type="application/json")


@dataclass(frozen=True, slots=True)
class MoneyWrite:
    """One money request: its unit of work, caller and idempotency key."""

    session: AsyncSession
    caller: ServiceCaller
    request: Request
    key: str

    async def once(
        self,
        body: BaseModel | None,
        status_code: int,
        resource_type: str,
        action: Callable[[], Awaitable[MoneyResult]],
        load: Callable[[str], Awaitable[MoneyResult]],
    ) -> Response:
        """Run ``action`` unless this key already ran it. A retry is answered with the object the
        first run made or changed (``load``), as it is now, with ``Idempotency-Replayed: true``."""
        session, caller, request, key = self.session, self.caller, self.request, self.key
        request_print = fingerprint(request.method, request.url.path, body.model_dump(mode="json") if body else None)
        stored = (
            await session.execute(
                select(MoneyOperationRow).where(MoneyOperationRow.org_id == caller.org_id, MoneyOperationRow.key == key)
            )
        ).scalar_one_or_none()
        if stored is not None:
            if stored.fingerprint != request_print:
                raise IdempotencyKeyReused("This Idempotency-Key was already used for a different request.")
            return _json_response(await load(stored.resource_id), stored.status_code, headers={REPLAYED_HEADER: "true"})
        result = await action()
        session.add(
            MoneyOperationRow(
                org_id=caller.org_id,
                key=key,
                fingerprint=request_print,
                status_code=status_code,
                resource_type=resource_type,
                resource_id=result.id,
                created_at=utcnow(),
            )
        )
        try:
            await session.flush()
        except IntegrityError:
            # Another first attempt with this key committed meanwhile: this one must not.
            raise IdempotencyInFlight(
                "A request with this Idempotency-Key is being processed; retry shortly."
            ) from None
        return _json_response(result, status_code)


async def insert_shares(
    session: AsyncSession, table: Table, columns: Sequence[str], rows: Sequence[tuple[str | int, ...]]
) -> None:
    """Insert ``rows`` (values of ``columns``, in that order: strings and integers only) in one executemany.

    A money write on a large fund inserts one row per investor. On SQLite the rows go to the driver's
    ``executemany`` as they are (the columns' types have no bind processing there, so SQLAlchemy would pass the
    same values), skipping SQLAlchemy's per-row parameter handling, most of the insert's Python cost at tens of
    thousands of rows. Elsewhere SQLAlchemy's own batched insert is used.
    """
    if not rows:
        return
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        await connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    dialect = connection.dialect
    processed = [column for column in columns if table.c[column].type.dialect_impl(dialect).bind_processor(dialect)]
    if processed:  # a type SQLAlchemy converts (a date, say) cannot skip its processing
        raise TypeError(f"insert_shares cannot pass {processed} of {table.name} to the driver as they are")
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(table.c[column].name) for column in columns)
    marks = ", ".join("?" for _ in columns)
    await connection.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", list(rows))


async def _money_write(request: Request, caller: Caller, session: WriteSession) -> MoneyWrite:
    return MoneyWrite(session, caller, request, validated_key(request.headers.getlist(KEY_HEADER)))


Money = Annotated[MoneyWrite, Depends(_money_write)]
"""A money route's dependency: 400 without a valid ``Idempotency-Key``; ``once`` runs the write."""

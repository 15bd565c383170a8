"""Public capital call routes. Creating a call and recording a payment move money (💰): they need
an ``Idempotency-Key``, which is also forwarded to the kernel so a retry never moves money twice."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import Response

from cornerstone.bff.audit.middleware import audited, note_audit, note_change
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.idempotency.dependencies import Idempotent
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.contracts.funds import (
    CapitalCall,
    CapitalCallCreate,
    CapitalCallPage,
    CapitalCallPreview,
    PaymentCreate,
)
from cornerstone.contracts.types import SINGLE_LINE

router = APIRouter(prefix="/api/capital-calls", tags=["capital calls"])

Reader = Annotated[Principal, Depends(require(Permission.CAPITAL_CALLS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.CAPITAL_CALLS_WRITE))]
CallId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("", response_model=CapitalCallPage)
async def list_calls(
    user: Reader,
    kernel: Kernel,
    fund_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$"), SINGLE_LINE] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512), SINGLE_LINE] = None,
) -> Any:
    """Capital calls of the org (or of one fund), newest first."""
    return await kernel.request(
        "GET", "/capital-calls", user, params={"fund_id": fund_id, "limit": limit, "cursor": cursor}
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CapitalCall,
    openapi_extra=audited("capital_call.create", "capital_call"),
)
async def create_call(
    body: CapitalCallCreate, request: Request, user: Writer, idem: Idempotent, kernel: Kernel
) -> Response:
    """💰 A draft call, allocated pro rata to commitments to the cent, never past an investor's
    uncalled commitment (409 ``CALL_EXCEEDS_UNFUNDED``)."""

    async def action() -> Any:
        call = await kernel.request(
            "POST", "/capital-calls", user, json=body.model_dump(mode="json"), idempotency_key=idem.key
        )
        note_change(request, None, call)
        return call

    return await idem.run(status.HTTP_201_CREATED, action)


@router.post(
    "/preview",
    response_model=CapitalCallPreview,
    openapi_extra=audited("capital_call.preview", "fund"),
)
async def preview_call(body: CapitalCallCreate, request: Request, user: Writer, kernel: Kernel) -> Any:
    """The shares a call with this body would be allocated now, by the same rule as creating it
    (409 ``CALL_EXCEEDS_UNFUNDED`` too). Nothing is stored and no money moves, so no
    ``Idempotency-Key`` is needed."""
    note_audit(request, target_id=body.fund_id)
    return await kernel.request("POST", "/capital-calls/preview", user, json=body.model_dump(mode="json"))


@router.get("/{call_id}", response_model=CapitalCall)
async def get_call(call_id: CallId, user: Reader, kernel: Kernel) -> Any:
    """One capital call with each investor's share and what they have paid."""
    return await kernel.request("GET", f"/capital-calls/{call_id}", user)


async def _act(request: Request, user: Principal, kernel: Kernel, call_id: str, verb: str) -> Any:
    before = await kernel.request("GET", f"/capital-calls/{call_id}", user)
    after = await kernel.request("POST", f"/capital-calls/{call_id}/{verb}", user)
    note_change(request, before, after)
    return after


@router.post(
    "/{call_id}/issue", response_model=CapitalCall, openapi_extra=audited("capital_call.issue", "capital_call")
)
async def issue_call(call_id: CallId, request: Request, user: Writer, kernel: Kernel) -> Any:
    """Issue a draft call to its investors; payments can then be recorded."""
    return await _act(request, user, kernel, call_id, "issue")


@router.post(
    "/{call_id}/cancel", response_model=CapitalCall, openapi_extra=audited("capital_call.cancel", "capital_call")
)
async def cancel_call(call_id: CallId, request: Request, user: Writer, kernel: Kernel) -> Any:
    """Cancel a call while nothing is paid (409 ``CALL_HAS_PAYMENTS`` after)."""
    return await _act(request, user, kernel, call_id, "cancel")


@router.post(
    "/{call_id}/payments", response_model=CapitalCall, openapi_extra=audited("capital_call.payment", "capital_call")
)
async def record_payment(
    call_id: CallId, body: PaymentCreate, request: Request, user: Writer, idem: Idempotent, kernel: Kernel
) -> Response:
    """💰 Record an investor's payment; more than they owe on the call is refused
    (409 ``PAYMENT_EXCEEDS_ALLOCATION``). The call's status follows its payments."""

    async def action() -> Any:
        before = await kernel.request("GET", f"/capital-calls/{call_id}", user)
        after = await kernel.request(
            "POST",
            f"/capital-calls/{call_id}/payments",
            user,
            json=body.model_dump(mode="json"),
            idempotency_key=idem.key,
        )
        note_change(request, before, after)
        return after

    return await idem.run(status.HTTP_200_OK, action)

"""Public distribution routes. Creating and paying move money (💰): they need an
``Idempotency-Key``, forwarded to the kernel too. Approval needs a second person."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import Response

from cornerstone.bff.audit.middleware import audited, note_change
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.idempotency.dependencies import Idempotent
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.contracts.funds import Distribution, DistributionCreate, DistributionPage, DistributionPreview
from cornerstone.contracts.types import SINGLE_LINE

router = APIRouter(prefix="/api/distributions", tags=["distributions"])

Reader = Annotated[Principal, Depends(require(Permission.DISTRIBUTIONS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.DISTRIBUTIONS_WRITE))]
DistributionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("", response_model=DistributionPage)
async def list_distributions(
    user: Reader,
    kernel: Kernel,
    fund_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$"), SINGLE_LINE] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512), SINGLE_LINE] = None,
) -> Any:
    """Distributions of the org (or of one fund), newest first."""
    return await kernel.request(
        "GET", "/distributions", user, params={"fund_id": fund_id, "limit": limit, "cursor": cursor}
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Distribution,
    openapi_extra=audited("distribution.create", "distribution"),
)
async def create_distribution(
    body: DistributionCreate, request: Request, user: Writer, idem: Idempotent, kernel: Kernel
) -> Response:
    """💰 A draft distribution, split pro rata to contributed capital or through the fund's
    waterfall; ``allocations`` + ``carried_interest`` == ``amount`` to the cent."""

    async def action() -> Any:
        distribution = await kernel.request(
            "POST", "/distributions", user, json=body.model_dump(mode="json"), idempotency_key=idem.key
        )
        note_change(request, None, distribution)
        return distribution

    return await idem.run(status.HTTP_201_CREATED, action)


@router.post(
    "/preview",
    response_model=DistributionPreview,
    openapi_extra=audited("distribution.preview", "distribution"),
)
async def preview_distribution(body: DistributionCreate, user: Writer, kernel: Kernel) -> Any:
    """What creating a distribution with this body would compute now — the same allocations,
    ``carried_interest`` and ``tiers``, and the same refusals — storing nothing (no
    ``Idempotency-Key`` needed)."""
    return await kernel.request("POST", "/distributions/preview", user, json=body.model_dump(mode="json"))


@router.get("/{distribution_id}", response_model=Distribution)
async def get_distribution(distribution_id: DistributionId, user: Reader, kernel: Kernel) -> Any:
    """One distribution with its tiers and allocations."""
    return await kernel.request("GET", f"/distributions/{distribution_id}", user)


async def _act(request: Request, user: Principal, kernel: Kernel, distribution_id: str, verb: str) -> Any:
    before = await kernel.request("GET", f"/distributions/{distribution_id}", user)
    after = await kernel.request("POST", f"/distributions/{distribution_id}/{verb}", user)
    note_change(request, before, after)
    return after


@router.post(
    "/{distribution_id}/approve",
    response_model=Distribution,
    openapi_extra=audited("distribution.approve", "distribution"),
)
async def approve_distribution(distribution_id: DistributionId, request: Request, user: Writer, kernel: Kernel) -> Any:
    """Approve a draft; its creator cannot (409 ``FOUR_EYES_REQUIRED``)."""
    return await _act(request, user, kernel, distribution_id, "approve")


@router.post(
    "/{distribution_id}/cancel",
    response_model=Distribution,
    openapi_extra=audited("distribution.cancel", "distribution"),
)
async def cancel_distribution(distribution_id: DistributionId, request: Request, user: Writer, kernel: Kernel) -> Any:
    """Cancel a draft or an approved distribution that nothing later was computed on."""
    return await _act(request, user, kernel, distribution_id, "cancel")


@router.post(
    "/{distribution_id}/pay", response_model=Distribution, openapi_extra=audited("distribution.pay", "distribution")
)
async def pay_distribution(
    distribution_id: DistributionId, request: Request, user: Writer, idem: Idempotent, kernel: Kernel
) -> Response:
    """💰 Pay an approved distribution: one ledger entry per investor."""

    async def action() -> Any:
        before = await kernel.request("GET", f"/distributions/{distribution_id}", user)
        after = await kernel.request("POST", f"/distributions/{distribution_id}/pay", user, idempotency_key=idem.key)
        note_change(request, before, after)
        return after

    return await idem.run(status.HTTP_200_OK, action)

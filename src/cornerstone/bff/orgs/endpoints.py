"""The caller's org: its gate thresholds (kept by the kernel, which applies them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from cornerstone.bff.audit.middleware import audited, note_change
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.contracts.evidence import OrgSettings, OrgSettingsUpdate

router = APIRouter(prefix="/api/org/settings", tags=["org"])

Reader = Annotated[Principal, Depends(require(Permission.ORG_SETTINGS_READ))]
Admin = Annotated[Principal, Depends(require(Permission.ORG_SETTINGS_WRITE))]


@router.get("", response_model=OrgSettings)
async def read_settings(user: Reader, kernel: Kernel) -> Any:
    """The org's gate thresholds (``ic_quorum``: approvals needed on ``ic_review -> loi``, default 2)."""
    return await kernel.request("GET", "/settings", user)


@router.patch("", response_model=OrgSettings, openapi_extra=audited("org.settings", "org"))
async def update_settings(body: OrgSettingsUpdate, request: Request, user: Admin, kernel: Kernel) -> Any:
    """Tighten the org's thresholds (never below the defaults)."""
    before = await kernel.request("GET", "/settings", user)
    after = await kernel.request("PUT", "/settings", user, json=body.model_dump(mode="json"))
    note_change(request, before, after)
    return after

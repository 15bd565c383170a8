"""Kernel org-settings routes (internal)."""

from __future__ import annotations

from fastapi import APIRouter

from cornerstone.contracts.evidence import OrgSettings, OrgSettingsUpdate
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.org_settings import service
from cornerstone.kernel.sessions import ReadSession, WriteSession

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}/settings", tags=["settings"])


@router.get("", response_model=OrgSettings)
async def read_settings(caller: Caller, session: ReadSession) -> OrgSettings:
    return await service.read_settings(session, caller)


@router.put("", response_model=OrgSettings)
async def update_settings(body: OrgSettingsUpdate, caller: Caller, session: WriteSession) -> OrgSettings:
    return await service.update_settings(session, caller, body)

"""Kernel override routes (internal)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from cornerstone.contracts.evidence import Override, OverrideCreate
from cornerstone.kernel.auth import Caller
from cornerstone.kernel.overrides import service
from cornerstone.kernel.sessions import WriteSession

router = APIRouter(prefix="/kernel/v1/orgs/{org_id}/deals/{deal_id}/overrides", tags=["overrides"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Override)
async def create_override(
    deal_id: Annotated[str, Path(max_length=64)], body: OverrideCreate, caller: Caller, session: WriteSession
) -> Override:
    return await service.create_override(session, caller, deal_id, body)

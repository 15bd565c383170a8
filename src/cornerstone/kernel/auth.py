"""Who may call the kernel: holders of the service credential, scoped to the org in the path."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, Path, Request

from cornerstone.kit.problems import Unauthorized
from cornerstone.kit.service_auth import InvalidServiceToken, ServiceCaller, verify_service_token

log = structlog.get_logger("cornerstone.kernel.auth")


async def service_caller(request: Request, org_id: Annotated[str, Path(max_length=64)]) -> ServiceCaller:
    """Verify the service token and that it was minted for this org; anything else is 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("A service credential is required.")
    try:
        caller = verify_service_token(request.app.state.service_key, token.strip())
    except InvalidServiceToken:
        log.warning("service_token_rejected")
        raise Unauthorized("The service credential is not valid.") from None
    if caller.org_id != org_id:
        log.warning("service_token_org_mismatch")
        raise Unauthorized("The service credential is not valid for this organization.")
    structlog.contextvars.bind_contextvars(org_id=caller.org_id, user_id=caller.actor_id, role=caller.actor_role)
    return caller


Caller = Annotated[ServiceCaller, Depends(service_caller)]

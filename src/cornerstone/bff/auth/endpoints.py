"""Sign-in and the caller's own identity."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.auth.passwords import verify_password
from cornerstone.bff.auth.schemas import Me, TokenRequest, TokenResponse
from cornerstone.bff.auth.tokens import TokenKeys, issue_access_token
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.models import UserRow
from cornerstone.kit.db import ReadSession
from cornerstone.kit.problems import Unauthorized

router = APIRouter(prefix="/api", tags=["auth"])
log = structlog.get_logger("cornerstone.bff.auth")


@router.post("/auth/token", response_model=TokenResponse)
async def issue_token(body: TokenRequest, request: Request, session: ReadSession) -> TokenResponse:
    """Exchange email and password for a bearer token (24 h). Wrong password and unknown email answer alike."""
    user = (await session.execute(select(UserRow).where(UserRow.email == body.email.lower()))).scalar_one_or_none()
    password_ok = verify_password(user.password_hash if user else None, body.password)
    if user is None or not password_ok or not user.active:
        log.info("login_failed")
        raise Unauthorized("Email or password is incorrect.")
    keys: TokenKeys = request.app.state.token_keys
    token = issue_access_token(keys, user_id=user.id, org_id=user.org_id, role=user.role)
    log.info("login_succeeded", user_id=user.id, org_id=user.org_id)
    return TokenResponse(access_token=token, expires_in=keys.ttl_seconds)


@router.get("/me", response_model=Me)
async def me(user: Annotated[Principal, Depends(require(Permission.ME_READ))]) -> Me:
    """Who the bearer of this token is."""
    return Me(id=user.user_id, email=user.email, org_id=user.org_id, role=user.role, investor_id=user.investor_id)

"""Sign-in and the caller's own identity."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response, status

from cornerstone.bff.audit.middleware import audited, note_audit
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.auth.passwords import verify_password
from cornerstone.bff.auth.schemas import Me, PasswordChange, TokenRequest, TokenResponse
from cornerstone.bff.auth.tokens import TokenClaims, TokenKeys, issue_access_token
from cornerstone.bff.authz.permissions import Permission, public
from cornerstone.bff.sessions import WriteSession
from cornerstone.bff.users.service import change_password, find_for_sign_in, revoke_tokens
from cornerstone.kit.problems import Unauthorized

router = APIRouter(prefix="/api", tags=["auth"])
log = structlog.get_logger("cornerstone.bff.auth")


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    openapi_extra=audited("auth.login", "user"),
    dependencies=[Depends(public)],
)
async def issue_token(body: TokenRequest, request: Request) -> TokenResponse:
    """Exchange email and password for a bearer token (24 h). Wrong password and unknown email answer alike."""
    user = await find_for_sign_in(request.app.state.database, body.email)
    password_ok = verify_password(user.password_hash if user else None, body.password)
    if user is not None:
        note_audit(request, org_id=user.org_id, target_id=user.id)
    if user is None or not password_ok or not user.active:
        log.info("login_failed")
        raise Unauthorized("Email or password is incorrect.")
    note_audit(request, actor_id=user.id, actor_role=user.role)
    keys: TokenKeys = request.app.state.token_keys
    token = issue_access_token(
        keys, user_id=user.id, org_id=user.org_id, role=user.role, token_version=user.token_version
    )
    log.info("login_succeeded", user_id=user.id, org_id=user.org_id)
    return TokenResponse(access_token=token, expires_in=keys.ttl_seconds)


@router.get("/me", response_model=Me)
async def me(user: Annotated[Principal, Depends(require(Permission.ME_READ))]) -> Me:
    """Who the bearer of this token is."""
    return Me(id=user.user_id, email=user.email, org_id=user.org_id, role=user.role, investor_id=user.investor_id)


Caller = Annotated[Principal, Depends(require(Permission.ME_READ))]


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    openapi_extra=audited("auth.logout", "user"),
)
async def logout(
    request: Request,
    user: Caller,
    session: WriteSession,
    everywhere: Annotated[bool, Query(alias="all")] = False,
) -> Response:
    """Revoke the presented token, or with ``?all=true`` every token of the caller."""
    claims: TokenClaims = request.state.token_claims
    await revoke_tokens(
        session,
        user.user_id,
        user.org_id,
        jti=None if everywhere else claims.jti,
        expires_at=None if everywhere else claims.expires_at,
    )
    note_audit(request, target_id=user.user_id, changes={"before": None, "after": {"all": everywhere}})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/password", response_model=TokenResponse, openapi_extra=audited("auth.password_change", "user"))
async def change_own_password(
    body: PasswordChange, request: Request, user: Caller, session: WriteSession
) -> TokenResponse:
    """Change your password (the current one is required). Every token you hold ends; a new one is returned."""
    note_audit(request, target_id=user.user_id)
    row = await change_password(session, user.user_id, user.org_id, body.current_password, body.new_password)
    keys: TokenKeys = request.app.state.token_keys
    token = issue_access_token(keys, user_id=row.id, org_id=row.org_id, role=row.role, token_version=row.token_version)
    return TokenResponse(access_token=token, expires_in=keys.ttl_seconds)

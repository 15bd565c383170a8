"""Who is calling: ``CurrentUser`` from the bearer token (or the web UI's session cookie), and
``require(permission)`` for each route.

Tenancy comes from the authenticated user's org, never from the request body. The user is checked
against the database (active, org, token version, token not revoked) unless the answer for this very
token is cached under the user's current auth generation (``auth.generations``): every change that
ends a token or changes a role writes a new generation once committed, so a deactivated user, a
changed role or a sign-out still takes effect on the next request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select

from cornerstone.bff.auth.generations import AuthGenerations
from cornerstone.bff.auth.tokens import InvalidToken, TokenClaims, TokenKeys
from cornerstone.bff.authz.permissions import Permission, allows
from cornerstone.bff.csrf import SESSION_COOKIE
from cornerstone.bff.models import RevokedTokenRow, UserRow
from cornerstone.kit.db import Database
from cornerstone.kit.problems import Forbidden, Unauthorized
from cornerstone.kit.request_context import bind_identity


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    org_id: str
    role: str
    email: str
    investor_id: str | None


def presented_credential(request: Request) -> str | None:
    """The bearer token, or else (no ``Authorization`` header at all) the web UI's session cookie,
    which holds an access token of the same kind. Cookie-authenticated changes pass the CSRF layer
    first (``bff.csrf``)."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return request.cookies.get(SESSION_COOKIE) or None


async def authenticate(request: Request, token: str) -> Principal:
    """The principal a presented access token stands for (active user, current token version, not
    revoked); ``Unauthorized`` otherwise. The signature and claims are checked the first time this
    process sees the token, its expiry every time; the user's state comes from the cache when its
    generation still matches, else from the database."""
    keys: TokenKeys = request.app.state.token_keys
    generations: AuthGenerations = request.app.state.auth_generations
    try:
        claims = generations.tokens.decode(keys, token)
    except InvalidToken:
        raise Unauthorized("The access token is not valid.") from None
    if not claims.org_id:
        raise Unauthorized("The access token is not valid.")
    # Read before the database: a change committed after this read gets a newer generation, so
    # whatever the database shows below is never cached under a generation it does not belong to.
    read_at = generations.principals.clock()
    generation = await generations.current(claims.user_id)
    principal = (
        generations.principals.get(
            claims.jti, generation, user_id=claims.user_id, org_id=claims.org_id, token_version=claims.token_version
        )
        if generation is not None
        else None
    )
    if principal is None:
        principal = await _principal_from_database(request.app.state.database, claims)
        if generation is not None:
            generations.principals.put(claims.jti, generation, claims.token_version, principal, read_at)
    request.state.token_claims = claims
    bind_identity(org_id=principal.org_id, user_id=principal.user_id, role=principal.role)
    request.state.principal = principal  # read by the audit layer
    return principal


async def _principal_from_database(database: Database, claims: TokenClaims) -> Principal:
    # Scoped to the org the token names: on PostgreSQL a user of any other org is not even visible.
    async with database.session(org_id=claims.org_id) as session:
        user = (await session.execute(select(UserRow).where(UserRow.id == claims.user_id))).scalar_one_or_none()
        revoked = await session.get(RevokedTokenRow, claims.jti)
    if (
        user is None
        or not user.active
        or user.org_id != claims.org_id
        or user.token_version != claims.token_version
        or revoked is not None
    ):
        raise Unauthorized("The access token is not valid.")
    return Principal(
        user_id=user.id, org_id=user.org_id, role=user.role, email=user.email, investor_id=user.investor_id
    )


async def current_user(request: Request) -> Principal:
    token = presented_credential(request)
    if token is None:
        raise Unauthorized("A bearer token is required.")
    return await authenticate(request, token)


CurrentUser = Annotated[Principal, Depends(current_user)]


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits the caller only if the role table grants ``permission``."""

    async def dependency(user: CurrentUser) -> Principal:
        if not allows(permission, user.role):
            raise Forbidden(f"Your role ({user.role}) does not have the permission `{permission.value}`.")
        return user

    dependency.permission = permission  # type: ignore[attr-defined]  # read by route-walking tests
    return dependency

"""User administration (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from cornerstone.bff.audit.middleware import audited, note_change
from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission, Role
from cornerstone.bff.kernel_client.client import KernelAnswer
from cornerstone.bff.kernel_client.dependencies import Kernel
from cornerstone.bff.sessions import ReadSession, WriteSession
from cornerstone.bff.users import service
from cornerstone.bff.users.schemas import User, UserCreate, UserPage, UserUpdate
from cornerstone.kit.problems import invalid_field

router = APIRouter(prefix="/api/users", tags=["users"])

Reader = Annotated[Principal, Depends(require(Permission.USERS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.USERS_WRITE))]


@router.get("", response_model=UserPage)
async def list_users(admin: Reader, session: ReadSession) -> UserPage:
    """Every user of the caller's org."""
    return UserPage(items=await service.list_users(session, admin), next_cursor=None)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=User, openapi_extra=audited("user.create", "user"))
async def create_user(body: UserCreate, request: Request, admin: Writer, session: WriteSession, kernel: Kernel) -> User:
    """Add a user to the caller's org. Without a password the user cannot sign in yet. An ``lp``
    user's ``investor_id`` must be an investor of the org."""
    if body.role == Role.LP and body.investor_id is not None:
        await _require_investor(kernel, admin, body.investor_id)
    user = await service.create_user(session, admin, body)
    note_change(request, None, user.model_dump(mode="json"))
    return user


async def _require_investor(kernel: Kernel, admin: Principal, investor_id: str) -> None:
    try:
        await kernel.request("GET", f"/investors/{investor_id}", admin)
    except KernelAnswer as answer:
        if answer.status != 404:
            raise
        raise invalid_field("body.investor_id", "no such investor", "investor") from None


@router.patch("/{user_id}", response_model=User, openapi_extra=audited("user.update", "user"))
async def update_user(
    user_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    body: UserUpdate,
    request: Request,
    admin: Writer,
    session: WriteSession,
) -> User:
    """Change a user's role or deactivate them (``"active": false``); takes effect on their next request."""
    before, after = await service.update_user(session, admin, user_id, body)
    note_change(request, before.model_dump(mode="json"), after.model_dump(mode="json"))
    return after

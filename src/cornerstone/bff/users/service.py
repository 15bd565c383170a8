"""User administration within one org."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.bff.auth.dependencies import Principal
from cornerstone.bff.auth.generations import note_auth_change
from cornerstone.bff.auth.passwords import hash_password, verify_password
from cornerstone.bff.authz.permissions import Role
from cornerstone.bff.models import RevokedTokenRow, UserRow
from cornerstone.bff.users.schemas import User, UserCreate, UserUpdate
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.db import Database
from cornerstone.kit.ids import new_id
from cornerstone.kit.problems import Conflict, NotFound, Unauthorized


class EmailTaken(Conflict):
    """A user with this email already exists."""

    code = "EMAIL_TAKEN"
    title = "Email already registered"


class UserNotFound(NotFound):
    """No user with this id in the caller's org."""

    code = "USER_NOT_FOUND"
    title = "User not found"

    def __init__(self) -> None:
        super().__init__("No user with this id.")


class CannotChangeSelf(Conflict):
    """An admin cannot demote or deactivate themselves; another admin must."""

    code = "CANNOT_CHANGE_SELF"
    title = "Cannot change your own role or status"


def to_schema(row: UserRow) -> User:
    return User(
        id=row.id,
        email=row.email,
        org_id=row.org_id,
        role=Role(row.role),
        active=row.active,
        investor_id=row.investor_id,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


async def find_for_sign_in(database: Database, email: str) -> UserRow | None:
    """The user who signs in with ``email``, whatever their org: sign-in's one lookup before any org is known.

    Its own read-only unit of work, scoped by ``sign_in_email``: on PostgreSQL it can see the
    one ``users`` row with exactly that email (policy ``sign_in_lookup``) and no other row of
    any table.
    """
    address = email.lower()
    async with database.session(sign_in_email=address) as session:
        return (await session.execute(select(UserRow).where(UserRow.email == address))).scalar_one_or_none()


async def add_user(
    session: AsyncSession, *, org_id: str, email: str, role: Role, password: str | None, investor_id: str | None
) -> UserRow:
    now = utcnow()
    row = UserRow(
        id=new_id(),
        org_id=org_id,
        email=email.lower(),
        password_hash=hash_password(password) if password else None,
        role=role.value,
        active=True,
        investor_id=investor_id if role == Role.LP else None,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise EmailTaken("A user with this email already exists.") from None
    return row


async def create_user(session: AsyncSession, admin: Principal, body: UserCreate) -> User:
    row = await add_user(
        session,
        org_id=admin.org_id,
        email=body.email,
        role=body.role,
        password=body.password,
        investor_id=body.investor_id,
    )
    return to_schema(row)


async def list_users(session: AsyncSession, admin: Principal) -> list[User]:
    rows = await session.execute(
        select(UserRow).where(UserRow.org_id == admin.org_id).order_by(UserRow.created_at, UserRow.id)
    )
    return [to_schema(row) for row in rows.scalars()]


async def update_user(session: AsyncSession, admin: Principal, user_id: str, body: UserUpdate) -> tuple[User, User]:
    """Apply the change; returns the user before and after it."""
    row = (
        await session.execute(select(UserRow).where(UserRow.org_id == admin.org_id, UserRow.id == user_id))
    ).scalar_one_or_none()
    if row is None:
        raise UserNotFound()
    before = to_schema(row)
    if row.id == admin.user_id and (body.role not in (None, Role.ADMIN) or body.active is False):
        raise CannotChangeSelf("An admin cannot demote or deactivate themselves; ask another admin.")
    if body.role is not None:
        row.role = body.role.value
        if body.role != Role.LP:
            row.investor_id = None
    if body.active is not None:
        row.active = body.active
    if (row.role, row.active) != (before.role.value, before.active):
        row.token_version += 1  # a changed role or status ends every token the user holds
    row.updated_at = utcnow()
    await session.flush()
    note_auth_change(session, row.id)
    return before, to_schema(row)


async def change_password(session: AsyncSession, user_id: str, org_id: str, current: str, new: str) -> UserRow:
    """Set a new password (the current one must be right) and end every token the user holds."""
    row = (await session.execute(select(UserRow).where(UserRow.org_id == org_id, UserRow.id == user_id))).scalar_one()
    if not verify_password(row.password_hash, current):
        raise Unauthorized("The current password is incorrect.")
    row.password_hash = hash_password(new)
    row.token_version += 1
    row.updated_at = utcnow()
    await session.flush()
    note_auth_change(session, row.id)
    return row


async def revoke_tokens(
    session: AsyncSession, user_id: str, org_id: str, *, jti: str | None, expires_at: datetime | None
) -> None:
    """Revoke one token (``jti``), or every token of the user when ``jti`` is None."""
    if jti is not None and expires_at is not None:
        session.add(RevokedTokenRow(jti=jti, org_id=org_id, user_id=user_id, expires_at=expires_at))
    else:
        row = (
            await session.execute(select(UserRow).where(UserRow.org_id == org_id, UserRow.id == user_id))
        ).scalar_one()
        row.token_version += 1
        row.updated_at = utcnow()
    await session.flush()
    note_auth_change(session, user_id)

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from cornerstone.bff.auth.schemas import NewPassword
from cornerstone.bff.authz.permissions import Role
from cornerstone.contracts.types import SINGLE_LINE

_STRICT = ConfigDict(extra="forbid")


class UserCreate(BaseModel):
    model_config = _STRICT

    email: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"),
        SINGLE_LINE,
    ]
    role: Role
    password: NewPassword | None = None
    # The investor an lp user sees; looked up in the kernel (by URL path, hence the pattern).
    investor_id: (
        Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"), SINGLE_LINE] | None
    ) = None

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class UserUpdate(BaseModel):
    model_config = _STRICT

    role: Role | None = None
    active: bool | None = None


class User(BaseModel):
    id: str
    email: str
    org_id: str
    role: Role
    active: bool
    investor_id: str | None
    created_at: datetime
    updated_at: datetime


class UserPage(BaseModel):
    items: list[User]
    next_cursor: str | None

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from cornerstone.bff.auth.passwords import MIN_PASSWORD_LENGTH
from cornerstone.bff.authz.permissions import Role

_STRICT = ConfigDict(extra="forbid")


class UserCreate(BaseModel):
    model_config = _STRICT

    email: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
    ]
    role: Role
    password: Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)] | None = None
    investor_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None

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

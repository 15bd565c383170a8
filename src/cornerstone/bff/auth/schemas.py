from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from cornerstone.bff.auth.passwords import MAX_PASSWORD_LENGTH, strong_password
from cornerstone.contracts.types import SINGLE_LINE


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, SINGLE_LINE, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


NewPassword = Annotated[str, Field(max_length=MAX_PASSWORD_LENGTH), AfterValidator(strong_password)]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
    new_password: NewPassword


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class Me(BaseModel):
    id: str
    email: str
    org_id: str
    role: str
    investor_id: str | None

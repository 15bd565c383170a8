"""Deals on the wire: what is created, patched, transitioned and returned."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, field_validator

from cornerstone.contracts.types import CurrencyCode, DecimalString, MinorUnits


class Stage(StrEnum):
    INTAKE = "intake"
    UNDERWRITING = "underwriting"
    IC_REVIEW = "ic_review"
    LOI = "loi"
    PSA = "psa"
    DUE_DILIGENCE = "due_diligence"
    FINANCING = "financing"
    CLOSING = "closing"
    CLOSED = "closed"
    OPERATING = "operating"
    CHANGED = "changed"
    DISTRESSED = "distressed"
    EXITED = "exited"
    ON_HOLD = "on_hold"
    DEAD = "dead"


class Phase(StrEnum):
    DRAFT = "draft"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    READY_TO_CLOSE = "ready_to_close"
    CLOSED = "closed"
    OPERATING = "operating"
    CHANGED = "changed"
    DISTRESSED = "distressed"
    EXITED = "exited"
    FROZEN = "frozen"
    TERMINATED = "terminated"


class AssetClass(StrEnum):
    OFFICE = "office"
    MULTIFAMILY = "multifamily"
    INDUSTRIAL = "industrial"
    RETAIL = "retail"
    HOSPITALITY = "hospitality"
    MIXED_USE = "mixed_use"
    LAND = "land"
    OTHER = "other"


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Count = Annotated[StrictInt, Field(gt=0, le=10**9)]
Irr = Annotated[DecimalString, Field(ge=-1, le=100)]
Multiple = Annotated[DecimalString, Field(ge=0, le=1000)]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

DEAL_MONEY_FIELDS = ("purchase_price", "noi", "loan_amount", "equity_required")


class Address(BaseModel):
    model_config = _STRICT

    street: ShortText | None = None
    city: ShortText | None = None
    state: ShortText | None = None
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = Field(
        default=None, description="ISO 3166-1 alpha-2"
    )


class DealFields(BaseModel):
    """The editable fields of a deal, every one optional (a PATCH sends only what changes)."""

    model_config = _STRICT

    name: Name | None = None
    asset_class: AssetClass | None = None
    address: Address | None = None
    square_feet: Count | None = None
    units: Count | None = None
    currency: CurrencyCode | None = None
    purchase_price: MinorUnits | None = None
    noi: MinorUnits | None = None
    loan_amount: MinorUnits | None = None
    equity_required: MinorUnits | None = None
    projected_irr: Irr | None = None
    projected_multiple: Multiple | None = None


class DealCreate(DealFields):
    name: Name
    asset_class: AssetClass
    currency: CurrencyCode = "USD"


class DealUpdate(DealFields):
    """A PATCH: fields present in the body change; ``version`` must be the deal's current one."""

    version: Annotated[StrictInt, Field(ge=1)]

    @field_validator("name", "asset_class", "currency")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, other than ``version``, in their wire form."""
        dumped = self.model_dump(mode="json", exclude={"version"})
        return {name: dumped[name] for name in self.model_fields_set if name != "version"}


class Deal(BaseModel):
    id: str
    name: str
    asset_class: AssetClass
    address: Address
    square_feet: int | None
    units: int | None
    currency: str
    purchase_price: int | None
    noi: int | None
    loan_amount: int | None
    equity_required: int | None
    projected_irr: DecimalString | None
    projected_multiple: DecimalString | None
    stage: Stage
    phase: Phase
    held_from: Stage | None = Field(description="While on hold: the stage the deal returns to.")
    version: int
    created_at: datetime
    updated_at: datetime


class DealPage(BaseModel):
    items: list[Deal]
    next_cursor: str | None


class TransitionRequest(BaseModel):
    model_config = _STRICT

    to: Stage
    reason: Reason | None = None
    version: Annotated[StrictInt, Field(ge=1)]


class Unmet(BaseModel):
    """One requirement of a gate that is not met: machine-readable and a sentence a user can act on."""

    kind: Literal["approval", "material", "check", "field"]
    requirement: str
    detail: str
    # Keys that do not apply to the item's kind are left out, not sent as null, so the "why not?"
    # preview and a refused transition render the same requirement identically.
    field: str | None = Field(default=None, exclude_if=lambda value: value is None)
    check: str | None = Field(default=None, exclude_if=lambda value: value is None)
    truth_class: str | None = Field(
        default=None, exclude_if=lambda value: value is None, description="material: the class needed or better"
    )
    roles: list[str] | None = Field(
        default=None, exclude_if=lambda value: value is None, description="approval: who may give it"
    )


class TransitionOption(BaseModel):
    to: Stage
    permitted: bool = Field(description="Whether the caller's role may request this edge at all.")
    allowed: bool = Field(description="permitted and no unmet requirement.")
    roles: list[str]
    unmet: list[Unmet]

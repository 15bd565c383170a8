"""Deals on the wire: what is created, patched, transitioned and returned."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, field_validator

from cornerstone.contracts.types import MULTI_LINE, SINGLE_LINE, CurrencyCode, DecimalString, MinorUnits


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


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SINGLE_LINE]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), SINGLE_LINE]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), MULTI_LINE]
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
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20), SINGLE_LINE] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), SINGLE_LINE] | None = Field(
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


TruthClassName = Literal["AI", "HUMAN", "DOC"]


class _UnmetBase(BaseModel):
    """What every unmet item carries: its kind, a sentence a user can act on, and what is there now."""

    kind: str  # narrowed to one literal by each kind's model; declared here so it comes first on the wire
    requirement: str = Field(description="What to do, as a sentence a user can act on.")
    detail: str = Field(description="What is missing or in the way now.")


class FieldUnmet(_UnmetBase):
    """A deal field (or the request's ``reason``) that must be set."""

    kind: Literal["field"] = "field"
    field: str = Field(description="The deal field, or `reason` for the request's own reason.")


class CheckUnmet(_UnmetBase):
    """A computed condition of the deal that does not hold."""

    kind: Literal["check"] = "check"
    check: str = Field(
        description="A stable name: `checklist_complete`, `linked_calls_funded`, `no_unverified_ai_material`, "
        "`resume_stage`."
    )


class MaterialOption(BaseModel):
    """A material that would satisfy the item: its type, at a truth class or better."""

    material_type: str
    min_truth_class: TruthClassName


class MaterialUnmet(_UnmetBase):
    """A material the deal must have, at a truth class or better."""

    kind: Literal["material"] = "material"
    material_type: str = Field(description="The material type to provide (e.g. `rent_roll`).")
    min_truth_class: TruthClassName = Field(description="The truth class needed, or better (DOC > HUMAN > AI).")
    alternatives: list[MaterialOption] = Field(
        default_factory=list,
        description="Other materials that satisfy the item instead (e.g. an all-equity attestation for a loan "
        "commitment); empty when only `material_type` does.",
    )


class ApprovalUnmet(_UnmetBase):
    """Approvals of the edge still missing, or a denial standing in its way."""

    kind: Literal["approval"] = "approval"
    check: Literal["approvals", "no_denial"] = Field(
        description="`approvals`: more approvals are needed; `no_denial`: a denial of the move stands until its "
        "author withdraws it (then `needed` is 0: no approval count helps)."
    )
    # Org roles (``gp``) and deal roles (``lender``) share one list: their names never overlap.
    roles: list[str] = Field(description="Who may approve: org roles and/or deal roles such as `lender`.")
    needed: int = Field(ge=0, description="How many more distinct people must approve (0 for `no_denial`).")


# One item of ``unmet`` (the 409 DEAL_GUARD_FAILED body, the transitions preview, the snapshot's
# gates): exactly the keys of its kind, so a client can act on it without parsing sentences.
Unmet = Annotated[FieldUnmet | CheckUnmet | MaterialUnmet | ApprovalUnmet, Field(discriminator="kind")]


class TransitionOption(BaseModel):
    to: Stage
    permitted: bool = Field(description="Whether the caller's role may request this edge at all.")
    allowed: bool = Field(description="permitted and no unmet requirement.")
    roles: list[str]
    unmet: list[Unmet]

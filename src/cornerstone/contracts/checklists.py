"""A deal's diligence checklist on the wire: items instantiated from an asset-class template when
the deal enters ``psa``, worked through to ``done`` (or ``waived`` with a reason)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from cornerstone.contracts.evidence import ObjectId
from cornerstone.contracts.types import MULTI_LINE, SINGLE_LINE, IsoDate

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), MULTI_LINE]


class ChecklistStatus(StrEnum):
    OPEN = "open"
    IN_REVIEW = "in_review"
    DONE = "done"
    WAIVED = "waived"

    @property
    def settled(self) -> bool:
        """Done or waived: the item no longer holds up diligence."""
        return self in (ChecklistStatus.DONE, ChecklistStatus.WAIVED)


class ChecklistCategory(StrEnum):
    TITLE_SURVEY = "title_survey"
    ENVIRONMENTAL = "environmental"
    PHYSICAL = "physical"
    LEASES = "leases"
    FINANCIAL = "financial"
    LEGAL = "legal"
    INSURANCE = "insurance"
    ZONING = "zoning"


class ChecklistItemUpdate(BaseModel):
    """A change to one item. ``status`` is always given; the other fields change only when present
    (``null`` clears them). Waiving needs a ``reason``."""

    model_config = _STRICT

    status: ChecklistStatus
    reason: Reason | None = None
    owner_id: ObjectId | None = None
    due_date: IsoDate | None = None
    artifact_id: ObjectId | None = None

    @model_validator(mode="after")
    def _waiver_has_reason(self) -> ChecklistItemUpdate:
        if self.status == ChecklistStatus.WAIVED and not self.reason:
            raise ValueError("a waived item needs a `reason`")
        if self.status != ChecklistStatus.WAIVED and self.reason is not None:
            raise ValueError("only a waived item takes a `reason`")
        return self

    def changes(self) -> dict[str, Any]:
        """The optional fields the client sent, by name (JSON form)."""
        sent = self.model_dump(mode="json")
        return {name: sent[name] for name in ("owner_id", "due_date", "artifact_id") if name in self.model_fields_set}


class ChecklistItemChange(ChecklistItemUpdate):
    """The BFF's call to the kernel: the update, plus the org role of the new owner (the BFF owns
    users and vouches for it; the kernel checks that an external owner is a party of the deal)."""

    owner_role: Annotated[str, StringConstraints(max_length=32), SINGLE_LINE] | None = None


class ChecklistItem(BaseModel):
    id: str
    deal_id: str
    code: str = Field(description="Stable name of the item within its template, e.g. `env.phase_i`.")
    category: ChecklistCategory
    title: str
    required: bool = Field(description="Required items must be done or waived before `due_diligence -> financing`.")
    status: ChecklistStatus
    reason: str | None = Field(description="Why the item was waived.")
    owner_id: str | None
    due_date: date | None
    artifact_id: str | None
    revision: int
    updated_by: str
    updated_at: datetime


class Checklist(BaseModel):
    template: str | None = Field(description="The asset-class template the items came from; null before `psa`.")
    items: list[ChecklistItem]

"""A deal's authority and evidence on the wire: parties, approvals, materials, overrides."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from cornerstone.contracts.deals import Stage
from cornerstone.contracts.types import JSON_TEXT, MULTI_LINE, SINGLE_LINE

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

ObjectId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"), SINGLE_LINE]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), MULTI_LINE]
Attestation = Annotated[str, StringConstraints(strip_whitespace=True, min_length=20, max_length=4000), MULTI_LINE]
MaterialType = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$"), SINGLE_LINE]

MAX_MATERIAL_DATA_BYTES = 16_384


class DealRole(StrEnum):
    """What an external party is to a deal."""

    COUNSEL = "counsel"
    LENDER = "lender"
    ESCROW = "escrow"
    PROPERTY_MANAGER = "property_manager"


class PartyCreate(BaseModel):
    model_config = _STRICT

    user_id: ObjectId
    deal_role: DealRole


class Party(BaseModel):
    id: str
    deal_id: str
    user_id: str
    deal_role: DealRole
    created_at: datetime


class PartyList(BaseModel):
    items: list[Party]


class Decision(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


class ApprovalCreate(BaseModel):
    """An approval (or denial) of one outgoing edge of the deal's current stage."""

    model_config = _STRICT

    to: Stage
    decision: Decision
    comment: Comment | None = None


class Approval(BaseModel):
    id: str
    deal_id: str
    stage: Stage = Field(description="The stage the deal was in when the approval was given.")
    to: Stage
    decision: Decision
    comment: str | None
    approver_id: str
    approver_role: str
    deal_role: DealRole | None
    current: bool = Field(description="Given in the deal's current stage visit and not withdrawn: it counts.")
    withdrawn_at: datetime | None
    created_at: datetime


class ApprovalList(BaseModel):
    items: list[Approval]


class TruthClass(StrEnum):
    """How far a material can be trusted: DOC (backed by a stored artifact) > HUMAN (attested by
    a named person) > AI (extracted by a model; worth nothing until a person verifies it)."""

    AI = "AI"
    HUMAN = "HUMAN"
    DOC = "DOC"

    @property
    def rank(self) -> int:
        return {TruthClass.AI: 0, TruthClass.HUMAN: 1, TruthClass.DOC: 2}[self]


class MaterialCreate(BaseModel):
    """A fact about the deal. Posting a type the deal already has adds a revision of it."""

    model_config = _STRICT

    type: MaterialType
    data: Annotated[dict[str, Any], JSON_TEXT] = Field(default_factory=dict)
    truth_class: TruthClass
    artifact_id: ObjectId | None = None

    @field_validator("data")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, separators=(",", ":"), default=str)) > MAX_MATERIAL_DATA_BYTES:
            raise ValueError(f"must be at most {MAX_MATERIAL_DATA_BYTES} bytes as JSON")
        return value


class Material(BaseModel):
    id: str
    deal_id: str
    type: str
    revision: int
    data: dict[str, Any]
    truth_class: TruthClass
    artifact_id: str | None
    artifact_sha256: str | None
    attested_by: str | None = Field(description="HUMAN: who attested it.")
    verified_by: str | None = Field(description="An AI material promoted to HUMAN: who verified it.")
    verified_at: datetime | None
    created_by: str
    created_at: datetime


class MaterialList(BaseModel):
    items: list[Material]


class OverrideCreate(BaseModel):
    model_config = _STRICT

    to: Stage
    attestation: Attestation


class Override(BaseModel):
    id: str
    deal_id: str
    stage: Stage
    to: Stage
    attestation: str
    created_by: str
    created_at: datetime
    consumed_at: datetime | None


DEFAULT_IC_QUORUM = 2


class OrgSettingsUpdate(BaseModel):
    """Thresholds an org may tighten (never loosen below the defaults)."""

    model_config = _STRICT

    ic_quorum: Annotated[int, Field(strict=True, ge=DEFAULT_IC_QUORUM, le=20)]


class OrgSettings(BaseModel):
    ic_quorum: int

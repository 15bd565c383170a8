"""A deal as it stood at an instant: replayed from its events, votes, material and checklist
revisions, and its gates evaluated on that evidence by the engine that enforces them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from cornerstone.contracts.checklists import ChecklistItem
from cornerstone.contracts.deals import Deal, Stage, Unmet
from cornerstone.contracts.evidence import Approval, Material, Override


class GateStatus(BaseModel):
    to: Stage
    roles: list[str] = Field(description="The org roles that may request this edge.")
    met: bool = Field(description="Whether the gate was satisfied at that instant.")
    unmet: list[Unmet]


class DealSnapshot(BaseModel):
    at: datetime = Field(description="The instant (UTC) the snapshot is of.")
    as_of_seq: int = Field(description="The deal's last event at or before `at`: what the snapshot replays up to.")
    deal: Deal
    approvals: list[Approval] = Field(description="Votes given up to `at`; `current`: counted at that instant.")
    materials: list[Material] = Field(description="The latest revision of each material at `at`.")
    checklist: list[ChecklistItem] = Field(description="Each diligence item as it stood at `at`.")
    overrides: list[Override] = Field(description="Overrides recorded in that stage visit and not yet used at `at`.")
    gates: list[GateStatus] = Field(description="Every edge out of the stage the deal was in, evaluated at `at`.")

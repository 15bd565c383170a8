"""Public deal schemas: the kernel's wire contract, plus the BFF's history page."""

from __future__ import annotations

from pydantic import BaseModel

from cornerstone.contracts.deals import Deal, DealCreate, DealPage, DealUpdate, TransitionOption, TransitionRequest
from cornerstone.contracts.events import Event

__all__ = ["Deal", "DealCreate", "DealHistory", "DealPage", "DealUpdate", "TransitionOption", "TransitionRequest"]


class DealHistory(BaseModel):
    items: list[Event]
    next_cursor: str | None

"""Kernel-specific errors (the shared taxonomy lives in ``cornerstone.kit.problems``)."""

from __future__ import annotations

from cornerstone.kit.problems import Conflict, NotFound


class DealTransitionNotAllowed(Conflict):
    code = "DEAL_TRANSITION_NOT_ALLOWED"
    title = "Transition not allowed"


class DealGuardFailed(Conflict):
    code = "DEAL_GUARD_FAILED"
    title = "Gate requirements not met"


class DealNotFound(NotFound):
    code = "DEAL_NOT_FOUND"
    title = "Deal not found"

    def __init__(self) -> None:
        super().__init__("No deal with this id.")

"""Kernel-specific errors (the shared taxonomy lives in ``cornerstone.kit.problems``)."""

from __future__ import annotations

from cornerstone.kit.problems import Conflict, NotFound


class DealTransitionNotAllowed(Conflict):
    """The move (or the approval or override of one) is not an edge of the deal state machine out of the deal's current
    stage (docs/STATE_MACHINE.md)."""

    code = "DEAL_TRANSITION_NOT_ALLOWED"
    title = "Transition not allowed"


class DealGuardFailed(Conflict):
    """The move is an edge of the state machine, but its gate is not met: ``unmet`` lists each missing requirement
    (docs/API.md gives their shape)."""

    code = "DEAL_GUARD_FAILED"
    title = "Gate requirements not met"


class DealNotFound(NotFound):
    """No deal with this id visible to the caller (an external user sees only the deals they are a party to)."""

    code = "DEAL_NOT_FOUND"
    title = "Deal not found"

    def __init__(self) -> None:
        super().__init__("No deal with this id.")

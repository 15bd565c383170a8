"""The deal stage state machine: one declarative table of edges, each with who may request it and its gate.

A gate is a tuple of requirements. Each requirement evaluates a ``GateContext`` to
``None`` (met) or an ``Unmet`` (what is missing, in words a user can act on). The same
``evaluate_gate`` serves enforcement (``transition``) and the "why not?" preview, so the
two cannot disagree. Later kinds of requirement (approvals, materials, computed checks,
overrides) are new ``Requirement`` classes, not special cases in the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cornerstone.contracts.deals import Phase, Stage, Unmet

PHASE_OF: Mapping[Stage, Phase] = {
    Stage.INTAKE: Phase.DRAFT,
    Stage.UNDERWRITING: Phase.DRAFT,
    Stage.IC_REVIEW: Phase.UNDER_REVIEW,
    Stage.LOI: Phase.UNDER_REVIEW,
    Stage.PSA: Phase.APPROVED,
    Stage.DUE_DILIGENCE: Phase.APPROVED,
    Stage.FINANCING: Phase.READY_TO_CLOSE,
    Stage.CLOSING: Phase.READY_TO_CLOSE,
    Stage.CLOSED: Phase.CLOSED,
    Stage.OPERATING: Phase.OPERATING,
    Stage.CHANGED: Phase.CHANGED,
    Stage.DISTRESSED: Phase.DISTRESSED,
    Stage.EXITED: Phase.EXITED,
    Stage.ON_HOLD: Phase.FROZEN,
    Stage.DEAD: Phase.TERMINATED,
}

INITIAL_STAGE = Stage.INTAKE

# Stages of the acquisition pipeline: a deal can be paused or killed from any of them.
PIPELINE: tuple[Stage, ...] = (
    Stage.INTAKE,
    Stage.UNDERWRITING,
    Stage.IC_REVIEW,
    Stage.LOI,
    Stage.PSA,
    Stage.DUE_DILIGENCE,
    Stage.FINANCING,
    Stage.CLOSING,
)


@dataclass(frozen=True, slots=True)
class GateContext:
    """What a gate may look at: the deal as stored and the request's inputs."""

    stage: Stage
    held_from: Stage | None
    fields: Mapping[str, Any]
    reason: str | None = None
    unfunded_linked_calls: int = 0  # capital calls linked to the deal, not cancelled and not yet funded


class Requirement(Protocol):
    @property
    def kind(self) -> str: ...

    def evaluate(self, context: GateContext) -> Unmet | None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class FieldRequired:
    """A deal field must be set (non-null) before the deal may move."""

    field: str
    label: str
    kind: str = "field"

    def evaluate(self, context: GateContext) -> Unmet | None:
        if context.fields.get(self.field) is not None:
            return None
        return Unmet(
            kind="field",
            requirement=f"Set the deal's {self.label}.",
            detail=f"`{self.field}` is required for this transition and is not set.",
            field=self.field,
        )

    def describe(self) -> str:
        return f"field `{self.field}` set"


@dataclass(frozen=True, slots=True)
class ReasonRequired:
    """The request must say why (pausing or killing a deal is a decision worth recording)."""

    kind: str = "field"

    def evaluate(self, context: GateContext) -> Unmet | None:
        if context.reason:
            return None
        return Unmet(
            kind="field",
            requirement="Give a reason for this transition.",
            detail="`reason` is required for this transition.",
            field="reason",
        )

    def describe(self) -> str:
        return "a `reason` in the request"


@dataclass(frozen=True, slots=True)
class ReturnsToStageLeft:
    """Leaving ``on_hold`` goes back to the stage the deal was paused in, and nowhere else."""

    target: Stage
    kind: str = "check"

    def evaluate(self, context: GateContext) -> Unmet | None:
        if context.held_from == self.target:
            return None
        left = context.held_from.value if context.held_from else "unknown"
        return Unmet(
            kind="check",
            requirement=f"A deal on hold returns to the stage it left ({left}).",
            detail=f"The deal was put on hold from `{left}`, not `{self.target.value}`.",
            check="resume_stage",
        )

    def describe(self) -> str:
        return f"the deal was put on hold from `{self.target.value}`"


@dataclass(frozen=True, slots=True)
class LinkedCallsFunded:
    """Every capital call linked to the deal is funded (or cancelled): the equity is in before closing."""

    kind: str = "check"

    def evaluate(self, context: GateContext) -> Unmet | None:
        if context.unfunded_linked_calls == 0:
            return None
        count = context.unfunded_linked_calls
        return Unmet(
            kind="check",
            requirement="Fund the capital calls linked to this deal.",
            detail=f"{count} linked capital call{'s are' if count != 1 else ' is'} not funded yet.",
            check="linked_calls_funded",
        )

    def describe(self) -> str:
        return "every capital call linked to the deal is funded"


@dataclass(frozen=True, slots=True)
class Edge:
    source: Stage
    target: Stage
    roles: frozenset[str]
    requirements: tuple[Requirement, ...] = field(default=())
    note: str = ""


LEADERSHIP = frozenset({"admin", "gp"})
DEAL_TEAM = frozenset({"admin", "gp", "analyst"})

# Requirements for entering a stage, whichever edge the deal arrives by.
ENTRY_REQUIREMENTS: Mapping[Stage, tuple[Requirement, ...]] = {
    Stage.IC_REVIEW: (FieldRequired("purchase_price", "purchase price"),),
}


def _edges() -> tuple[Edge, ...]:
    edges: list[Edge] = [
        Edge(Stage.INTAKE, Stage.UNDERWRITING, DEAL_TEAM, note="screened in"),
        Edge(Stage.UNDERWRITING, Stage.IC_REVIEW, DEAL_TEAM, note="submitted to the investment committee"),
        Edge(Stage.IC_REVIEW, Stage.LOI, LEADERSHIP, note="IC approved; letter of intent"),
        Edge(Stage.IC_REVIEW, Stage.UNDERWRITING, LEADERSHIP, note="IC sends back for more work"),
        Edge(Stage.LOI, Stage.PSA, LEADERSHIP, note="purchase and sale agreement"),
        Edge(Stage.PSA, Stage.DUE_DILIGENCE, LEADERSHIP, note="PSA executed; diligence period"),
        Edge(Stage.DUE_DILIGENCE, Stage.FINANCING, LEADERSHIP, note="diligence cleared"),
        Edge(Stage.DUE_DILIGENCE, Stage.LOI, LEADERSHIP, note="re-trade"),
        Edge(Stage.FINANCING, Stage.CLOSING, LEADERSHIP, note="financing committed"),
        Edge(Stage.CLOSING, Stage.CLOSED, LEADERSHIP, (LinkedCallsFunded(),), note="funded and recorded"),
        Edge(Stage.CLOSED, Stage.OPERATING, LEADERSHIP, note="handed to asset management"),
        Edge(Stage.OPERATING, Stage.CHANGED, LEADERSHIP, note="business plan changed"),
        Edge(Stage.CHANGED, Stage.OPERATING, LEADERSHIP, note="back to plan"),
        Edge(Stage.OPERATING, Stage.DISTRESSED, LEADERSHIP, note="covenant breach or default risk"),
        Edge(Stage.CHANGED, Stage.DISTRESSED, LEADERSHIP, note="covenant breach or default risk"),
        Edge(Stage.DISTRESSED, Stage.OPERATING, LEADERSHIP, note="worked out"),
        Edge(Stage.OPERATING, Stage.EXITED, LEADERSHIP, note="sold or refinanced out"),
        Edge(Stage.CHANGED, Stage.EXITED, LEADERSHIP, note="sold"),
        Edge(Stage.DISTRESSED, Stage.EXITED, LEADERSHIP, note="sold, foreclosed or deed in lieu"),
    ]
    for stage in PIPELINE:
        edges.append(Edge(stage, Stage.ON_HOLD, LEADERSHIP, (ReasonRequired(),), note="paused"))
        edges.append(Edge(stage, Stage.DEAD, LEADERSHIP, (ReasonRequired(),), note="killed"))
        edges.append(Edge(Stage.ON_HOLD, stage, LEADERSHIP, (ReturnsToStageLeft(stage),), note="resumed"))
    edges.append(Edge(Stage.ON_HOLD, Stage.DEAD, LEADERSHIP, (ReasonRequired(),), note="killed while paused"))
    edges.append(Edge(Stage.DEAD, Stage.INTAKE, LEADERSHIP, note="revived"))
    return tuple(edges)


EDGES: tuple[Edge, ...] = _edges()
_BY_PAIR: Mapping[tuple[Stage, Stage], Edge] = {(edge.source, edge.target): edge for edge in EDGES}
assert len(_BY_PAIR) == len(EDGES), "an edge appears twice in the table"


def find_edge(source: Stage, target: Stage) -> Edge | None:
    return _BY_PAIR.get((source, target))


def edges_from(source: Stage) -> list[Edge]:
    return [edge for edge in EDGES if edge.source == source]


def gate_of(edge: Edge) -> tuple[Requirement, ...]:
    """Everything the edge demands: its own requirements, then those of entering its target."""
    return edge.requirements + ENTRY_REQUIREMENTS.get(edge.target, ())


def evaluate_gate(edge: Edge, context: GateContext) -> list[Unmet]:
    return [unmet for requirement in gate_of(edge) if (unmet := requirement.evaluate(context)) is not None]

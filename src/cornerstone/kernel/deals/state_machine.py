"""The deal stage state machine: one declarative table of edges, each with who may request it and its gate.

A gate is a tuple of requirements. Each requirement evaluates a ``GateContext`` to
``None`` (met) or an ``Unmet`` (what is missing, in words a user can act on). The same
``evaluate_gate`` serves enforcement (``transition``) and the "why not?" preview, so the
two cannot disagree. Kinds of requirement: fields, approvals (distinct people, per stage
visit; a denial blocks), materials (a type at a truth class or better), computed checks; an
admin's override satisfies one edge's whole gate once. Each is a ``Requirement`` class, not a
special case in the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cornerstone.contracts.deals import (
    ApprovalUnmet,
    CheckUnmet,
    FieldUnmet,
    MaterialOption,
    MaterialUnmet,
    Phase,
    Stage,
    Unmet,
)
from cornerstone.contracts.evidence import DEFAULT_IC_QUORUM, Decision, TruthClass

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
class Vote:
    """An approval or denial counted in the deal's current stage visit (not withdrawn)."""

    target: Stage
    decision: Decision
    approver_id: str
    approver_role: str
    deal_role: str | None


@dataclass(frozen=True, slots=True)
class GateContext:
    """What a gate may look at: the deal as stored, its evidence, and the request's inputs."""

    stage: Stage
    held_from: Stage | None
    fields: Mapping[str, Any]
    reason: str | None = None
    unfunded_linked_calls: int = 0  # capital calls linked to the deal, not cancelled and not yet funded
    votes: tuple[Vote, ...] = ()
    materials: Mapping[str, TruthClass] = field(default_factory=dict)  # type -> truth class of its latest revision
    unverified_ai_materials: int = 0
    # Titles of required diligence items neither done nor waived; ``None``: the deal has no checklist.
    open_checklist_items: tuple[str, ...] | None = None
    overridden: frozenset[Stage] = frozenset()  # targets with an unused override in this stage visit
    ic_quorum: int = DEFAULT_IC_QUORUM


class Requirement(Protocol):
    @property
    def kind(self) -> str: ...

    def evaluate(self, context: GateContext, target: Stage) -> Unmet | None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class FieldRequired:
    """A deal field must be set (non-null) before the deal may move."""

    field: str
    label: str
    kind: str = "field"

    def evaluate(self, context: GateContext, target: Stage) -> FieldUnmet | None:
        if context.fields.get(self.field) is not None:
            return None
        return FieldUnmet(
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

    def evaluate(self, context: GateContext, target: Stage) -> FieldUnmet | None:
        if context.reason:
            return None
        return FieldUnmet(
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

    def evaluate(self, context: GateContext, target: Stage) -> CheckUnmet | None:
        if context.held_from == self.target:
            return None
        left = context.held_from.value if context.held_from else "unknown"
        return CheckUnmet(
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

    def evaluate(self, context: GateContext, target: Stage) -> CheckUnmet | None:
        if context.unfunded_linked_calls == 0:
            return None
        count = context.unfunded_linked_calls
        return CheckUnmet(
            requirement="Fund the capital calls linked to this deal.",
            detail=f"{count} linked capital call{'s are' if count != 1 else ' is'} not funded yet.",
            check="linked_calls_funded",
        )

    def describe(self) -> str:
        return "every capital call linked to the deal is funded"


@dataclass(frozen=True, slots=True)
class ChecklistComplete:
    """Every required item of the deal's diligence checklist is done or waived (with a reason)."""

    kind: str = "check"

    def evaluate(self, context: GateContext, target: Stage) -> CheckUnmet | None:
        items = context.open_checklist_items
        if items is not None and not items:
            return None
        if items is None:
            detail = "The deal has no diligence checklist (it is created when the deal enters `psa`)."
        else:
            shown = "; ".join(items[:5]) + (f"; and {len(items) - 5} more" if len(items) > 5 else "")
            detail = f"{len(items)} required item{'s are' if len(items) != 1 else ' is'} open: {shown}."
        return CheckUnmet(
            requirement="Complete or waive every required diligence checklist item.",
            detail=detail,
            check="checklist_complete",
        )

    def describe(self) -> str:
        return "every required diligence checklist item done or waived"


def _role_names(roles: frozenset[str]) -> str:
    return " or ".join(sorted(role.replace("deal:", "the deal's ") for role in roles))


def _wire_roles(roles: frozenset[str]) -> list[str]:
    """The roles as the API names them: ``deal:lender`` is ``lender`` (org and deal role names never
    overlap, so the prefix the gate table uses internally is not needed on the wire)."""
    return sorted(role.removeprefix("deal:") for role in roles)


@dataclass(frozen=True, slots=True)
class ApprovalsRequired:
    """Approvals of this edge from distinct people: at least ``count`` (``None``: the org's IC
    quorum) holding any of ``roles``, and, for each set in ``each_of``, at least one of them.
    Roles are org roles (``gp``) or deal roles (``deal:lender``). One person counts once, however
    often they approve; a denial of the edge blocks it until its author withdraws it."""

    roles: frozenset[str]
    count: int | None = 1
    each_of: tuple[frozenset[str], ...] = ()
    kind: str = "approval"

    def approves(self, vote: Vote, roles: frozenset[str]) -> bool:
        return vote.approver_role in roles or (vote.deal_role is not None and f"deal:{vote.deal_role}" in roles)

    def evaluate(self, context: GateContext, target: Stage) -> ApprovalUnmet | None:
        votes = [vote for vote in context.votes if vote.target == target]
        denials = [vote for vote in votes if vote.decision == Decision.DENY]
        if denials:
            # No number of approvals outweighs a denial: nothing to count until it is withdrawn.
            return ApprovalUnmet(
                requirement="Resolve the denial: its author must withdraw it.",
                detail=f"Denials of this move stand: {len(denials)}.",
                check="no_denial",
                roles=_wire_roles(self.roles),
                needed=0,
            )
        approvals = [v for v in votes if v.decision == Decision.APPROVE and self.approves(v, self.roles)]
        people = {vote.approver_id for vote in approvals}
        needed = context.ic_quorum if self.count is None else self.count
        missing_groups = [group for group in self.each_of if not any(self.approves(vote, group) for vote in approvals)]
        if len(people) >= needed and not missing_groups:
            return None
        # Each group with no approval yet needs someone new (whoever approved is not of it), and the
        # count needs ``needed - len(people)`` more: the larger of the two is how many more people.
        more = max(needed - len(people), len(missing_groups))
        wanted = f"{needed} approval{'s' if needed != 1 else ''} from distinct people ({_role_names(self.roles)})"
        if self.each_of:
            wanted += ", including " + " and ".join(_role_names(group) for group in self.each_of)
        return ApprovalUnmet(
            requirement=f"Get {wanted}.",
            detail=f"{len(people)} of {needed} given"
            + (f"; none yet from {' nor '.join(_role_names(g) for g in missing_groups)}" if missing_groups else "")
            + ".",
            check="approvals",
            roles=_wire_roles(self.roles),
            needed=more,
        )

    def describe(self) -> str:
        count = "the org's IC quorum of" if self.count is None else str(self.count)
        text = f"{count} approval(s) from distinct {_role_names(self.roles)}"
        if self.each_of:
            text += ", including " + " and ".join(_role_names(group) for group in self.each_of)
        return text


@dataclass(frozen=True, slots=True)
class MaterialRequired:
    """The deal has a material of ``type`` whose latest revision is of truth class ``at_least`` or better."""

    type: str
    label: str
    at_least: TruthClass
    kind: str = "material"

    def evaluate(self, context: GateContext, target: Stage) -> MaterialUnmet | None:
        have = context.materials.get(self.type)
        if have is not None and have.rank >= self.at_least.rank:
            return None
        if have is None:
            detail = f"No `{self.type}` material yet."
        else:
            detail = f"The `{self.type}` material is {have.value}; {self.at_least.value} or better is needed."
        how = "backed by an uploaded document (DOC)" if self.at_least == TruthClass.DOC else "attested by a person"
        return MaterialUnmet(
            requirement=f"Provide the {self.label}, {how}.",
            detail=detail,
            material_type=self.type,
            min_truth_class=self.at_least.value,
        )

    def describe(self) -> str:
        return f"material `{self.type}` at {self.at_least.value} or better"


@dataclass(frozen=True, slots=True)
class NoUnverifiedAiMaterial:
    """Nothing on the deal rests on a model's word alone: every AI material is verified (or superseded)."""

    kind: str = "check"

    def evaluate(self, context: GateContext, target: Stage) -> CheckUnmet | None:
        if context.unverified_ai_materials == 0:
            return None
        count = context.unverified_ai_materials
        return CheckUnmet(
            requirement="Verify or replace the AI-extracted materials.",
            detail=f"{count} material{'s are' if count != 1 else ' is'} still AI-extracted and unverified.",
            check="no_unverified_ai_material",
        )

    def describe(self) -> str:
        return "no unverified AI material on the deal"


@dataclass(frozen=True, slots=True)
class AnyOf:
    """One of several materials satisfies a gate item (e.g. a loan commitment or an all-equity attestation)."""

    options: tuple[MaterialRequired, ...]
    label: str
    kind: str = "material"

    def evaluate(self, context: GateContext, target: Stage) -> MaterialUnmet | None:
        unmet = [option.evaluate(context, target) for option in self.options]
        if any(item is None for item in unmet):
            return None
        # The first option is the usual way (it names the item); the others are its alternatives.
        first, *others = self.options
        return MaterialUnmet(
            requirement=f"Provide {self.label}.",
            detail=" Or: ".join(item.detail for item in unmet if item is not None),
            material_type=first.type,
            min_truth_class=first.at_least.value,
            alternatives=[
                MaterialOption(material_type=option.type, min_truth_class=option.at_least.value) for option in others
            ],
        )

    def describe(self) -> str:
        return "one of: " + " / ".join(option.describe() for option in self.options)


@dataclass(frozen=True, slots=True)
class Edge:
    source: Stage
    target: Stage
    roles: frozenset[str]
    requirements: tuple[Requirement, ...] = field(default=())
    note: str = ""


LEADERSHIP = frozenset({"admin", "gp"})
DEAL_TEAM = frozenset({"admin", "gp", "analyst"})

# The default gate table's evidence, in the words of a CRE acquisition.
RENT_ROLL = MaterialRequired("rent_roll", "current rent roll", TruthClass.HUMAN)
T12 = MaterialRequired("t12", "trailing-twelve-month operating statement (T-12)", TruthClass.HUMAN)
UNDERWRITING_SUMMARY = MaterialRequired("underwriting_summary", "underwriting summary", TruthClass.HUMAN)
IC_MEMO = MaterialRequired("ic_memo", "investment committee memo", TruthClass.HUMAN)
IC_QUORUM = ApprovalsRequired(frozenset({"gp", "admin"}), count=None)
EXECUTED_LOI = MaterialRequired("executed_loi", "executed letter of intent", TruthClass.DOC)
EXECUTED_PSA = MaterialRequired("executed_psa", "executed purchase and sale agreement", TruthClass.DOC)
FINANCING_IN_PLACE = AnyOf(
    (
        MaterialRequired("loan_commitment", "loan commitment letter", TruthClass.DOC),
        MaterialRequired("all_equity_attestation", "all-equity attestation", TruthClass.HUMAN),
    ),
    "a loan commitment letter (DOC) or an all-equity attestation (HUMAN)",
)
CLOSING_STATEMENT = MaterialRequired("closing_statement", "settlement (closing) statement", TruthClass.DOC)
WIRE_CONFIRMATION = MaterialRequired("wire_confirmation", "wire confirmation", TruthClass.DOC)
CLOSING_APPROVALS = ApprovalsRequired(
    frozenset({"gp", "deal:lender", "deal:escrow"}),
    count=2,
    each_of=(frozenset({"gp"}), frozenset({"deal:lender", "deal:escrow"})),
)
PM_AGREEMENT = MaterialRequired("pm_agreement", "property management agreement", TruthClass.DOC)

# Requirements for entering a stage, whichever edge the deal arrives by.
ENTRY_REQUIREMENTS: Mapping[Stage, tuple[Requirement, ...]] = {
    Stage.IC_REVIEW: (FieldRequired("purchase_price", "purchase price"),),
}


def _edges() -> tuple[Edge, ...]:
    edges: list[Edge] = [
        Edge(Stage.INTAKE, Stage.UNDERWRITING, DEAL_TEAM, (RENT_ROLL, T12), note="screened in"),
        Edge(
            Stage.UNDERWRITING,
            Stage.IC_REVIEW,
            DEAL_TEAM,
            (UNDERWRITING_SUMMARY, NoUnverifiedAiMaterial()),
            note="submitted to the investment committee",
        ),
        Edge(Stage.IC_REVIEW, Stage.LOI, LEADERSHIP, (IC_QUORUM, IC_MEMO), note="IC approved; letter of intent"),
        Edge(Stage.IC_REVIEW, Stage.UNDERWRITING, LEADERSHIP, note="IC sends back for more work"),
        Edge(Stage.LOI, Stage.PSA, LEADERSHIP, (EXECUTED_LOI,), note="purchase and sale agreement"),
        Edge(Stage.PSA, Stage.DUE_DILIGENCE, LEADERSHIP, (EXECUTED_PSA,), note="PSA executed; diligence period"),
        Edge(
            Stage.DUE_DILIGENCE,
            Stage.FINANCING,
            LEADERSHIP,
            (ChecklistComplete(), ApprovalsRequired(frozenset({"gp"}))),
            note="diligence cleared",
        ),
        Edge(Stage.DUE_DILIGENCE, Stage.LOI, LEADERSHIP, note="re-trade"),
        Edge(Stage.FINANCING, Stage.CLOSING, LEADERSHIP, (FINANCING_IN_PLACE,), note="financing committed"),
        Edge(
            Stage.CLOSING,
            Stage.CLOSED,
            LEADERSHIP,
            (CLOSING_STATEMENT, WIRE_CONFIRMATION, CLOSING_APPROVALS, LinkedCallsFunded()),
            note="funded and recorded",
        ),
        Edge(Stage.CLOSED, Stage.OPERATING, LEADERSHIP, (PM_AGREEMENT,), note="handed to asset management"),
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
    """What the edge still needs; nothing when an unused override covers it in this stage visit."""
    if edge.target in context.overridden:
        return []
    return [unmet for requirement in gate_of(edge) if (unmet := requirement.evaluate(context, edge.target)) is not None]


def approver_roles(edge: Edge) -> frozenset[str]:
    """Every org or deal role (``deal:lender``) an approval of the edge can come from."""
    roles: set[str] = set()
    for requirement in gate_of(edge):
        if isinstance(requirement, ApprovalsRequired):
            roles |= requirement.roles
    return frozenset(roles)

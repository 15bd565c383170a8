"""The deal state machine as pure data and functions: its table, its rules and its gates. No I/O."""

from __future__ import annotations

import itertools
from collections import Counter, deque

import pytest

from cornerstone.contracts.deals import Stage, Unmet
from cornerstone.contracts.evidence import Decision, TruthClass
from cornerstone.kernel.deals.state_machine import (
    EDGES,
    INITIAL_STAGE,
    PHASE_OF,
    AnyOf,
    ApprovalsRequired,
    Edge,
    GateContext,
    MaterialRequired,
    ReasonRequired,
    Vote,
    edges_from,
    evaluate_gate,
    find_edge,
    gate_of,
)
from tests.kernel.helpers import PIPELINE, ROLES, SPEC_EDGES

# ARCHITECTURE.md §2, row by row: stage -> lifecycle phase.
ARCHITECTURE_PHASES = {
    "intake": "draft",
    "underwriting": "draft",
    "ic_review": "under_review",
    "loi": "under_review",
    "psa": "approved",
    "due_diligence": "approved",
    "financing": "ready_to_close",
    "closing": "ready_to_close",
    "closed": "closed",
    "operating": "operating",
    "changed": "changed",
    "distressed": "distressed",
    "exited": "exited",
    "on_hold": "frozen",
    "dead": "terminated",
}

FORWARD = (
    "intake",
    "underwriting",
    "ic_review",
    "loi",
    "psa",
    "due_diligence",
    "financing",
    "closing",
    "closed",
    "operating",
    "exited",
)

PRICED = {"purchase_price": 1_000_000_00}


def _all_evidence() -> tuple[dict[str, TruthClass], tuple[Vote, ...]]:
    """Every material any gate names, at DOC, and approvals of every edge from a gp, an admin and
    a lender: the evidence requirements met, so these tests see the field and check rules alone
    (tests/kernel/deals/test_gates.py covers the evidence requirements)."""
    materials: dict[str, TruthClass] = {}
    votes: list[Vote] = []
    for e in EDGES:
        for requirement in gate_of(e):
            options = requirement.options if isinstance(requirement, AnyOf) else (requirement,)
            for option in options:
                if isinstance(option, MaterialRequired):
                    materials[option.type] = TruthClass.DOC
            if isinstance(requirement, ApprovalsRequired):
                for who, role, deal_role in (
                    ("gp-1", "gp", None),
                    ("admin-1", "admin", None),
                    ("l-1", "external", "lender"),
                ):
                    votes.append(Vote(e.target, Decision.APPROVE, who, role, deal_role))
    return materials, tuple(votes)


EVIDENCE, VOTES = _all_evidence()


def context(stage: str, *, held_from: str | None = None, reason: str | None = None, priced: bool = True) -> GateContext:
    return GateContext(
        stage=Stage(stage),
        held_from=Stage(held_from) if held_from else None,
        fields=PRICED if priced else {"purchase_price": None},
        reason=reason,
        materials=EVIDENCE,
        votes=VOTES,
    )


def edge(source: str, target: str) -> Edge:
    found = find_edge(Stage(source), Stage(target))
    assert found is not None, f"no edge {source} -> {target}"
    return found


def unmet_json(unmet: list[Unmet]) -> list[dict[str, object]]:
    return [item.model_dump(exclude_none=True) for item in unmet]


# --- stages and phases ---------------------------------------------------------------------------


def test_every_stage_has_the_phase_the_architecture_table_gives() -> None:
    assert {stage.value: phase.value for stage, phase in PHASE_OF.items()} == ARCHITECTURE_PHASES
    assert {stage.value for stage in Stage} == set(ARCHITECTURE_PHASES)


def test_a_new_deal_starts_in_intake() -> None:
    assert INITIAL_STAGE == Stage.INTAKE


# --- the edge table ------------------------------------------------------------------------------


def test_the_edge_table_lists_no_source_target_pair_twice() -> None:
    pairs = Counter((e.source, e.target) for e in EDGES)
    assert [pair for pair, count in pairs.items() if count > 1] == []


def test_no_edge_leads_from_a_stage_to_itself() -> None:
    assert [e for e in EDGES if e.source == e.target] == []


def test_the_edge_table_is_exactly_the_specified_edges_with_their_roles() -> None:
    actual = {(e.source.value, e.target.value): frozenset(e.roles) for e in EDGES}
    assert set(actual) - set(SPEC_EDGES) == set(), "edges the spec does not have"
    assert set(SPEC_EDGES) - set(actual) == set(), "specified edges the table lacks"
    assert {pair: roles for pair, roles in actual.items() if roles != SPEC_EDGES[pair]} == {}


def test_every_edge_names_only_known_roles() -> None:
    assert {role for e in EDGES for role in e.roles} <= set(ROLES)


def test_find_edge_and_edges_from_answer_from_the_table() -> None:
    for source in Stage:
        out = edges_from(source)
        assert {e.target for e in out} == {e.target for e in EDGES if e.source == source}
        assert all(e.source == source for e in out)
        for target in Stage:
            assert (find_edge(source, target) is not None) == ((source.value, target.value) in SPEC_EDGES)


def test_the_forward_chain_from_intake_to_exited_exists() -> None:
    missing = [(a, b) for a, b in itertools.pairwise(FORWARD) if find_edge(Stage(a), Stage(b)) is None]
    assert missing == []


@pytest.mark.parametrize(("source", "target"), [("ic_review", "underwriting"), ("due_diligence", "loi")])
def test_the_pipeline_back_edges_exist(source: str, target: str) -> None:
    assert find_edge(Stage(source), Stage(target)) is not None


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("operating", "changed"),
        ("changed", "operating"),
        ("operating", "distressed"),
        ("changed", "distressed"),
        ("distressed", "operating"),
    ],
)
def test_the_operating_cycle_edges_exist(source: str, target: str) -> None:
    assert find_edge(Stage(source), Stage(target)) is not None


def test_exited_is_terminal() -> None:
    assert edges_from(Stage.EXITED) == []
    assert [e for e in EDGES if e.source == Stage.EXITED] == []


def test_every_stage_but_exited_has_a_way_out() -> None:
    assert [stage for stage in Stage if stage != Stage.EXITED and not edges_from(stage)] == []


def test_every_stage_is_reachable_from_intake() -> None:
    seen = {Stage.INTAKE}
    queue = deque([Stage.INTAKE])
    while queue:
        for e in edges_from(queue.popleft()):
            if e.target not in seen:
                seen.add(e.target)
                queue.append(e.target)
    assert set(Stage) - seen == set()


def test_no_stage_after_closing_can_be_paused_or_killed() -> None:
    post_close = [s for s in Stage if s.value not in PIPELINE and s not in (Stage.ON_HOLD, Stage.DEAD)]
    offending = [(s, t) for s in post_close for t in (Stage.ON_HOLD, Stage.DEAD) if find_edge(s, t)]
    assert offending == []


# --- on_hold and dead ----------------------------------------------------------------------------

INTO_HOLD_OR_DEAD = [e for e in EDGES if e.target in (Stage.ON_HOLD, Stage.DEAD)]


def test_every_pipeline_stage_and_on_hold_can_be_paused_or_killed() -> None:
    assert {(e.source.value, e.target.value) for e in INTO_HOLD_OR_DEAD} == {
        *((stage, "on_hold") for stage in PIPELINE),
        *((stage, "dead") for stage in PIPELINE),
        ("on_hold", "dead"),
    }


@pytest.mark.parametrize("e", INTO_HOLD_OR_DEAD, ids=lambda e: f"{e.source.value}->{e.target.value}")
def test_pausing_or_killing_a_deal_needs_a_reason_and_admin_or_gp(e: Edge) -> None:
    assert frozenset(e.roles) == {"admin", "gp"}
    assert any(isinstance(requirement, ReasonRequired) for requirement in gate_of(e))
    held_from = "intake" if e.source == Stage.ON_HOLD else None
    assert unmet_json(evaluate_gate(e, context(e.source.value, held_from=held_from))) == [
        {
            "kind": "field",
            "requirement": "Give a reason for this transition.",
            "detail": "`reason` is required for this transition.",
            "field": "reason",
        }
    ]
    assert evaluate_gate(e, context(e.source.value, held_from=held_from, reason="Seller walked")) == []


def test_no_other_edge_asks_for_a_reason() -> None:
    others = [e for e in EDGES if e not in INTO_HOLD_OR_DEAD]
    assert [e for e in others if any(isinstance(r, ReasonRequired) for r in gate_of(e))] == []


@pytest.mark.parametrize("held_from", PIPELINE)
def test_leaving_on_hold_is_allowed_only_back_to_the_stage_it_left(held_from: str) -> None:
    for target in PIPELINE:
        unmet = evaluate_gate(edge("on_hold", target), context("on_hold", held_from=held_from))
        if target == held_from:
            assert unmet == [], target
        else:
            assert unmet_json(unmet) == [
                {
                    "kind": "check",
                    "requirement": f"A deal on hold returns to the stage it left ({held_from}).",
                    "detail": f"The deal was put on hold from `{held_from}`, not `{target}`.",
                    "check": "resume_stage",
                }
            ], target


def test_a_deal_on_hold_without_a_recorded_stage_cannot_resume_anywhere() -> None:
    blocked = {
        target: [u.check for u in evaluate_gate(edge("on_hold", target), context("on_hold", held_from=None))]
        for target in PIPELINE
    }
    assert blocked == {key: ["resume_stage"] for key in PIPELINE}


def test_a_dead_deal_can_be_revived_to_intake_by_admin_or_gp_only() -> None:
    revive = edge("dead", "intake")
    assert frozenset(revive.roles) == {"admin", "gp"}
    assert evaluate_gate(revive, context("dead", priced=False)) == []
    assert [e.target for e in edges_from(Stage.DEAD)] == [Stage.INTAKE]


# --- the ic_review field gate --------------------------------------------------------------------


def test_every_edge_into_ic_review_requires_a_purchase_price() -> None:
    into = [e for e in EDGES if e.target == Stage.IC_REVIEW]
    assert {e.source.value for e in into} == {"underwriting", "on_hold"}
    for e in into:
        without = evaluate_gate(e, context(e.source.value, held_from="ic_review", priced=False))
        assert [u.field for u in without] == ["purchase_price"], e
        assert evaluate_gate(e, context(e.source.value, held_from="ic_review", priced=True)) == [], e


def test_no_edge_out_of_the_pipeline_front_asks_for_a_purchase_price_elsewhere() -> None:
    asking = {
        (e.source.value, e.target.value)
        for e in EDGES
        if any(
            getattr(u, "field", None) == "purchase_price"
            for u in evaluate_gate(e, context(e.source.value, priced=False))
        )
    }
    assert asking == {("underwriting", "ic_review"), ("on_hold", "ic_review")}


# --- evaluate_gate's answer ----------------------------------------------------------------------


def test_an_unmet_field_gate_says_which_field_in_the_api_shape() -> None:
    unmet = evaluate_gate(edge("underwriting", "ic_review"), context("underwriting", priced=False))
    assert unmet_json(unmet) == [
        {
            "kind": "field",
            "requirement": "Set the deal's purchase price.",
            "detail": "`purchase_price` is required for this transition and is not set.",
            "field": "purchase_price",
        }
    ]


def test_evaluate_gate_lists_every_unmet_requirement_in_order() -> None:
    unmet = evaluate_gate(edge("on_hold", "ic_review"), context("on_hold", held_from="loi", priced=False))
    assert [(u.kind, getattr(u, "check", None), getattr(u, "field", None)) for u in unmet] == [
        ("check", "resume_stage", None),
        ("field", None, "purchase_price"),
    ]


def test_every_unmet_item_is_machine_readable_by_kind() -> None:
    """API.md: each item has kind, requirement and detail, plus `field` for field items and `check` for
    checks, and nothing else (tests/kernel/deals/test_unmet_items.py pins every kind's keys)."""
    seen_kinds = set()
    for e in EDGES:
        for held_from in (None, "intake"):
            for item in evaluate_gate(e, context(e.source.value, held_from=held_from, priced=False)):
                seen_kinds.add(item.kind)
                assert item.requirement.endswith("."), item
                assert item.detail, item
                keys = set(item.model_dump())
                if item.kind == "field":
                    assert keys == {"kind", "requirement", "detail", "field"}, item
                elif item.kind == "check":
                    assert keys == {"kind", "requirement", "detail", "check"}, item
    assert seen_kinds == {"field", "check"}


def test_a_met_gate_answers_an_empty_list() -> None:
    assert evaluate_gate(edge("intake", "underwriting"), context("intake", priced=False)) == []
    assert evaluate_gate(edge("underwriting", "ic_review"), context("underwriting")) == []

"""The evidence requirements of the default gate table, as pure functions: approvals count distinct
people and stop at a denial, materials need their truth class, AI counts for nothing, an override
clears one edge. No I/O."""

from __future__ import annotations

from cornerstone.contracts.deals import Stage
from cornerstone.contracts.evidence import Decision, TruthClass
from cornerstone.kernel.deals.state_machine import (
    EDGES,
    ApprovalsRequired,
    GateContext,
    MaterialRequired,
    Vote,
    approver_roles,
    evaluate_gate,
    find_edge,
    gate_of,
)


def _edge(source: str, target: str):  # type: ignore[no-untyped-def]
    found = find_edge(Stage(source), Stage(target))
    assert found is not None
    return found


def _context(stage: str, **evidence: object) -> GateContext:
    return GateContext(
        stage=Stage(stage),
        held_from=None,
        fields={"purchase_price": 1_000_000_00},
        **evidence,  # type: ignore[arg-type]
    )


def _vote(
    target: str, who: str, role: str, decision: Decision = Decision.APPROVE, deal_role: str | None = None
) -> Vote:
    return Vote(Stage(target), decision, who, role, deal_role)


def _checks(stage: str, target: str, **evidence: object) -> list[str | None]:
    """Each unmet item by name: a material's type, or the check (an approval item's too)."""
    unmet = evaluate_gate(_edge(stage, target), _context(stage, **evidence))
    return [getattr(u, "material_type", None) or getattr(u, "check", None) for u in unmet]


def test_leaving_intake_needs_a_rent_roll_and_a_t12_attested_or_better() -> None:
    assert _checks("intake", "underwriting") == ["rent_roll", "t12"]
    ai_only = {"rent_roll": TruthClass.AI, "t12": TruthClass.AI}
    assert _checks("intake", "underwriting", materials=ai_only) == ["rent_roll", "t12"]
    assert _checks("intake", "underwriting", materials={"rent_roll": TruthClass.HUMAN, "t12": TruthClass.DOC}) == []


def test_an_unmet_material_says_what_to_provide_and_what_is_there() -> None:
    (unmet,) = evaluate_gate(_edge("loi", "psa"), _context("loi", materials={"executed_loi": TruthClass.HUMAN}))
    assert unmet.kind == "material"
    assert unmet.requirement == "Provide the executed letter of intent, backed by an uploaded document (DOC)."
    assert unmet.detail == "The `executed_loi` material is HUMAN; DOC or better is needed."


def test_an_unverified_ai_material_blocks_submission_to_ic() -> None:
    materials = {"underwriting_summary": TruthClass.HUMAN}
    assert _checks("underwriting", "ic_review", materials=materials) == []
    assert _checks("underwriting", "ic_review", materials=materials, unverified_ai_materials=1) == [
        "no_unverified_ai_material"
    ]


def test_the_ic_quorum_counts_distinct_gp_or_admin_people_and_follows_the_org_setting() -> None:
    memo = {"ic_memo": TruthClass.HUMAN}
    same_person_twice = (_vote("loi", "gp-1", "gp"), _vote("loi", "gp-1", "gp"))
    assert _checks("ic_review", "loi", materials=memo, votes=same_person_twice) == ["approvals"]
    two_people = (_vote("loi", "gp-1", "gp"), _vote("loi", "admin-1", "admin"))
    assert _checks("ic_review", "loi", materials=memo, votes=two_people) == []
    assert _checks("ic_review", "loi", materials=memo, votes=two_people, ic_quorum=3) == ["approvals"]
    analyst = (*two_people[:1], _vote("loi", "an-1", "analyst"))
    assert _checks("ic_review", "loi", materials=memo, votes=analyst) == ["approvals"]
    other_edge = (_vote("underwriting", "gp-2", "gp"), *two_people[:1])
    assert _checks("ic_review", "loi", materials=memo, votes=other_edge) == ["approvals"]


def test_a_denial_blocks_the_edge_whatever_the_approvals() -> None:
    votes = (
        _vote("loi", "gp-1", "gp"),
        _vote("loi", "admin-1", "admin"),
        _vote("loi", "gp-2", "gp", Decision.DENY),
    )
    unmet = evaluate_gate(
        _edge("ic_review", "loi"), _context("ic_review", materials={"ic_memo": TruthClass.HUMAN}, votes=votes)
    )
    assert [(u.kind, u.check) for u in unmet] == [("approval", "no_denial")]


def test_closing_needs_the_gp_and_the_lender_or_escrow_and_both_documents() -> None:
    documents = {"closing_statement": TruthClass.DOC, "wire_confirmation": TruthClass.DOC}
    two_gps = (_vote("closed", "gp-1", "gp"), _vote("closed", "gp-2", "gp"))
    assert _checks("closing", "closed", materials=documents, votes=two_gps) == ["approvals"]
    gp_and_escrow = (_vote("closed", "gp-1", "gp"), _vote("closed", "e-1", "external", deal_role="escrow"))
    assert _checks("closing", "closed", materials=documents, votes=gp_and_escrow) == []
    assert _checks("closing", "closed", votes=gp_and_escrow) == ["closing_statement", "wire_confirmation"]
    counsel = (_vote("closed", "gp-1", "gp"), _vote("closed", "c-1", "external", deal_role="counsel"))
    assert _checks("closing", "closed", materials=documents, votes=counsel) == ["approvals"]
    assert _checks("closing", "closed", materials=documents, votes=gp_and_escrow, unfunded_linked_calls=1) == [
        "linked_calls_funded"
    ]


def test_financing_takes_a_loan_commitment_document_or_an_all_equity_attestation() -> None:
    assert _checks("financing", "closing") == ["loan_commitment"]
    assert _checks("financing", "closing", materials={"loan_commitment": TruthClass.HUMAN}) == ["loan_commitment"]
    assert _checks("financing", "closing", materials={"loan_commitment": TruthClass.DOC}) == []
    assert _checks("financing", "closing", materials={"all_equity_attestation": TruthClass.HUMAN}) == []


def test_an_override_clears_exactly_its_edge() -> None:
    overridden = frozenset({Stage.PSA})
    assert _checks("loi", "psa", overridden=overridden) == []
    assert _checks("ic_review", "loi", overridden=overridden) == ["approvals", "ic_memo"]


def test_who_may_approve_an_edge_is_read_from_its_gate() -> None:
    assert approver_roles(_edge("ic_review", "loi")) == {"gp", "admin"}
    assert approver_roles(_edge("closing", "closed")) == {"gp", "deal:lender", "deal:escrow"}
    assert approver_roles(_edge("intake", "underwriting")) == frozenset()


def test_the_default_table_asks_what_the_cre_practice_asks() -> None:
    materials = {
        (e.source.value, e.target.value): sorted(
            (r.type, r.at_least.value) for r in gate_of(e) if isinstance(r, MaterialRequired)
        )
        for e in EDGES
    }
    assert materials[("intake", "underwriting")] == [("rent_roll", "HUMAN"), ("t12", "HUMAN")]
    assert materials[("underwriting", "ic_review")] == [("underwriting_summary", "HUMAN")]
    assert materials[("ic_review", "loi")] == [("ic_memo", "HUMAN")]
    assert materials[("loi", "psa")] == [("executed_loi", "DOC")]
    assert materials[("psa", "due_diligence")] == [("executed_psa", "DOC")]
    assert materials[("closing", "closed")] == [("closing_statement", "DOC"), ("wire_confirmation", "DOC")]
    assert materials[("closed", "operating")] == [("pm_agreement", "DOC")]
    approvals = {
        (e.source.value, e.target.value) for e in EDGES if any(isinstance(r, ApprovalsRequired) for r in gate_of(e))
    }
    assert approvals == {("ic_review", "loi"), ("due_diligence", "financing"), ("closing", "closed")}

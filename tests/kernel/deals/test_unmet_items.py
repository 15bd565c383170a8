"""The exact shape of every kind of ``unmet`` item, as docs/API.md's contract gives it: ``kind``,
``requirement``, ``detail`` and, by kind, ``material_type``/``min_truth_class`` (material),
``roles``/``needed``/``check`` (approval), ``check`` (check), ``field`` (field); nothing else.
Pure functions of the gate table; no I/O (tests/integration/test_unmet_items_api.py takes the
same items through the API)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from cornerstone.contracts.deals import Stage, Unmet
from cornerstone.contracts.evidence import Decision, TruthClass
from cornerstone.kernel.deals.state_machine import GateContext, Vote, evaluate_gate, find_edge

BASE = {"kind", "requirement", "detail"}
KEYS = {
    "field": BASE | {"field"},
    "check": BASE | {"check"},
    "material": BASE | {"material_type", "min_truth_class", "alternatives"},
    "approval": BASE | {"check", "roles", "needed"},
}
ITEMS: TypeAdapter[list[Unmet]] = TypeAdapter(list[Unmet])


def _unmet(source: str, target: str, **evidence: Any) -> list[dict[str, Any]]:
    """The edge's unmet items as the API sends them (JSON), each checked against its kind's keys."""
    edge = find_edge(Stage(source), Stage(target))
    assert edge is not None
    context = GateContext(stage=Stage(source), held_from=evidence.pop("held_from", None), **evidence)
    items = ITEMS.dump_python(evaluate_gate(edge, context), mode="json")
    for item in items:
        assert set(item) == KEYS[item["kind"]], item
    # What the kernel sends, the BFF (and any client) reads back into the same models.
    assert ITEMS.dump_python(ITEMS.validate_python(items), mode="json") == items
    return items


def _approve(target: str, who: str, role: str, deal_role: str | None = None) -> Vote:
    return Vote(Stage(target), Decision.APPROVE, who, role, deal_role)


def test_a_material_item_names_the_type_and_the_truth_class_needed() -> None:
    (item,) = _unmet("loi", "psa", fields={}, materials={"executed_loi": TruthClass.HUMAN})
    assert item == {
        "kind": "material",
        "requirement": "Provide the executed letter of intent, backed by an uploaded document (DOC).",
        "detail": "The `executed_loi` material is HUMAN; DOC or better is needed.",
        "material_type": "executed_loi",
        "min_truth_class": "DOC",
        "alternatives": [],
    }


def test_a_material_item_with_another_way_lists_it_as_an_alternative() -> None:
    (item,) = _unmet("financing", "closing", fields={})
    assert item == {
        "kind": "material",
        "requirement": "Provide a loan commitment letter (DOC) or an all-equity attestation (HUMAN).",
        "detail": "No `loan_commitment` material yet. Or: No `all_equity_attestation` material yet.",
        "material_type": "loan_commitment",
        "min_truth_class": "DOC",
        "alternatives": [{"material_type": "all_equity_attestation", "min_truth_class": "HUMAN"}],
    }


def test_an_approval_item_says_who_may_approve_and_how_many_more_are_needed() -> None:
    memo = {"ic_memo": TruthClass.HUMAN}
    counted = []
    for votes in ((), (_approve("loi", "gp-1", "gp"),), (_approve("loi", "gp-1", "gp"),) * 2):
        (item,) = _unmet("ic_review", "loi", fields={}, materials=memo, votes=votes, ic_quorum=3)
        assert {key: item[key] for key in ("kind", "check", "roles")} == {
            "kind": "approval",
            "check": "approvals",
            "roles": ["admin", "gp"],
        }
        counted.append((item["needed"], item["detail"]))
    # One person approving twice is one approval.
    assert counted == [(3, "0 of 3 given."), (2, "1 of 3 given."), (2, "1 of 3 given.")]
    two = (_approve("loi", "gp-1", "gp"), _approve("loi", "admin-1", "admin"))
    (item,) = _unmet("ic_review", "loi", fields={}, materials=memo, votes=two, ic_quorum=3)
    assert item == {
        "kind": "approval",
        "requirement": "Get 3 approvals from distinct people (admin or gp).",
        "detail": "2 of 3 given.",
        "check": "approvals",
        "roles": ["admin", "gp"],
        "needed": 1,
    }
    assert _unmet("ic_review", "loi", fields={}, materials=memo, votes=two, ic_quorum=2) == []


def test_an_approval_item_names_deal_roles_by_their_name_and_counts_a_missing_group() -> None:
    documents = {"closing_statement": TruthClass.DOC, "wire_confirmation": TruthClass.DOC}
    two_gps = (_approve("closed", "gp-1", "gp"), _approve("closed", "gp-2", "gp"))
    (item,) = _unmet("closing", "closed", fields={}, materials=documents, votes=two_gps)
    # Two people approved, which is the count, but neither is the lender or escrow: one more person.
    assert item == {
        "kind": "approval",
        "requirement": "Get 2 approvals from distinct people (gp or the deal's escrow or the deal's lender), "
        "including gp and the deal's escrow or the deal's lender.",
        "detail": "2 of 2 given; none yet from the deal's escrow or the deal's lender.",
        "check": "approvals",
        "roles": ["escrow", "gp", "lender"],
        "needed": 1,
    }
    (none_yet,) = _unmet("closing", "closed", fields={}, materials=documents)
    assert none_yet["needed"] == 2
    lender = (_approve("closed", "l-1", "external", deal_role="lender"),)
    (gp_missing,) = _unmet("closing", "closed", fields={}, materials=documents, votes=lender)
    assert (gp_missing["needed"], gp_missing["detail"]) == (1, "1 of 2 given; none yet from gp.")
    both = (two_gps[0], *lender)
    assert _unmet("closing", "closed", fields={}, materials=documents, votes=both) == []


def test_a_denial_is_an_approval_item_with_nothing_to_count() -> None:
    votes = (
        _approve("loi", "gp-1", "gp"),
        _approve("loi", "admin-1", "admin"),
        Vote(Stage.LOI, Decision.DENY, "gp-2", "gp", None),
    )
    (item,) = _unmet("ic_review", "loi", fields={}, materials={"ic_memo": TruthClass.HUMAN}, votes=votes)
    assert item == {
        "kind": "approval",
        "requirement": "Resolve the denial: its author must withdraw it.",
        "detail": "Denials of this move stand: 1.",
        "check": "no_denial",
        "roles": ["admin", "gp"],
        "needed": 0,
    }


def test_a_check_item_names_the_check() -> None:
    (item,) = _unmet("due_diligence", "financing", fields={}, votes=(_approve("financing", "gp-1", "gp"),))
    assert item == {
        "kind": "check",
        "requirement": "Complete or waive every required diligence checklist item.",
        "detail": "The deal has no diligence checklist (it is created when the deal enters `psa`).",
        "check": "checklist_complete",
    }


def test_a_field_item_names_the_field() -> None:
    (item,) = _unmet("underwriting", "ic_review", fields={}, materials={"underwriting_summary": TruthClass.HUMAN})
    assert item == {
        "kind": "field",
        "requirement": "Set the deal's purchase price.",
        "detail": "`purchase_price` is required for this transition and is not set.",
        "field": "purchase_price",
    }


def test_an_item_of_the_wrong_shape_is_not_read_as_another_kind() -> None:
    """A client (the BFF) reading an item validates it by its kind: the old shape does not pass."""
    old_material = {"kind": "material", "requirement": "r", "detail": "d", "check": "t12", "truth_class": "HUMAN"}
    with pytest.raises(ValidationError, match="material_type"):
        ITEMS.validate_python([old_material])

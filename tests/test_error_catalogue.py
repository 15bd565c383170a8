"""docs/ERRORS.md accounts for every problem code: each code literal in the source (found here by
its own scan, not the generator's), each error class (each with a docstring a client can read),
and the codes real servers answer. The file matching its generator is tests/test_docs.py."""

from __future__ import annotations

import gc
import re
from pathlib import Path

import httpx

from cornerstone.kit.problems import NotFound
from cornerstone.ops import error_catalogue
from cornerstone.ops.docs import render_errors
from tests.support import Org, Stack

# ``code = "X"`` (a class attribute or an assignment), ``code="X"`` (an argument), ``code: str = "X"``
# (a default): the ways the source writes a problem code.
CODE_LITERAL = re.compile(r"""(?<!\w)code\s*(?::\s*str\s*)?=\s*["']([A-Z][A-Z0-9_]{2,})["']""")


def _catalogued(repo_root: Path) -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]*)`", (repo_root / "docs" / "ERRORS.md").read_text()))


def test_every_code_literal_in_the_source_is_in_the_catalogue(repo_root: Path) -> None:
    literals: dict[str, list[str]] = {}
    for path in sorted((repo_root / "src" / "cornerstone").rglob("*.py")):
        for code in CODE_LITERAL.findall(path.read_text()):
            literals.setdefault(code, []).append(str(path.relative_to(repo_root)))
    # The scan finds what it should: class codes, a crash's, a form's default.
    assert {"DEAL_GUARD_FAILED", "INTERNAL_ERROR", "VALIDATION_ERROR", "CSRF_FAILED"} <= literals.keys()
    missing = {code: where for code, where in literals.items() if code not in _catalogued(repo_root)}
    assert missing == {}, "run `cornerstone docs`: these codes are not in docs/ERRORS.md"
    # The generator's own scan (which also reads ``self.code = ... or "X"``) finds at least as much.
    assert literals.keys() <= error_catalogue.code_literals().keys()


def test_every_error_class_says_what_it_means_to_a_client() -> None:
    assert error_catalogue.undocumented_classes() == []
    classes = error_catalogue.error_classes()
    # Found by walking the class tree, wherever they are defined: the kit, the kernel, the BFF, contracts.
    modules = {cls.__module__.split(".")[1] for cls in classes}
    assert modules == {"kit", "kernel", "bff", "contracts"}
    assert len(classes) >= 45


def test_every_entry_has_a_status_title_meaning_and_a_service_or_is_described() -> None:
    entries = {entry.code: entry for entry in error_catalogue.catalogue()}
    for code, entry in entries.items():
        assert entry.meanings, code
        assert all(entry.meanings), code
        if code in error_catalogue.DESCRIBED:
            continue
        assert entry.statuses, code
        assert entry.titles, code
        # A code no service answers is a base class, never a literal nobody raises.
        assert entry.services or entry.classes == ["cornerstone.kit.problems.Conflict"], code
    # Nothing stale: each described or exempted code is still in the source.
    assert error_catalogue.DESCRIBED.keys() <= entries.keys()
    assert error_catalogue.NOT_ANSWERED.keys() <= error_catalogue.code_literals().keys()
    assert not error_catalogue.NOT_ANSWERED.keys() & entries.keys()
    # The services, as the code has them.
    assert entries["DEAL_GUARD_FAILED"].services == {"kernel"}
    assert entries["CSRF_FAILED"].services == {"BFF"}
    assert entries["RATE_LIMITED"].services == {"BFF"}
    assert entries["KERNEL_UNAVAILABLE"].services == {"BFF"}
    assert entries["VALIDATION_ERROR"].services == {"BFF", "kernel"}
    assert entries["METHOD_NOT_ALLOWED"].services == {"BFF", "kernel"}
    assert (entries["ARTIFACT_CORRUPT"].statuses, entries["VERSION_CONFLICT"].statuses) == ({500}, {409})


def test_a_new_error_class_is_picked_up_without_being_listed() -> None:
    class LedgerSealed(NotFound):
        """A class no list names: the catalogue finds it in the class tree."""

        code = "LEDGER_SEALED_FOR_TEST"
        title = "Ledger sealed"

    LedgerSealed.__module__ = "cornerstone.kit.problems"  # as if the package defined it
    try:
        assert "`LEDGER_SEALED_FOR_TEST` | 404 | Ledger sealed | A class no list names" in render_errors()
    finally:
        del LedgerSealed
        gc.collect()  # the class tree holds its subclasses weakly: gone, it leaves the others' docs alone
    assert all(cls.__name__ != "LedgerSealed" for cls in error_catalogue.error_classes())
    assert "LEDGER_SEALED_FOR_TEST" not in render_errors()


def test_the_codes_real_servers_answer_are_catalogued(stack: Stack, org: Org, repo_root: Path) -> None:
    entries = {entry.code: entry for entry in error_catalogue.catalogue()}
    answers: list[httpx.Response] = []
    with httpx.Client(base_url=stack.bff.url, timeout=30) as anonymous:
        answers.append(anonymous.get("/api/deals"))  # no credential
        answers.append(anonymous.get("/api/no-such-route"))
        answers.append(anonymous.put("/api/auth/token"))  # a route, not this method
    with org.client("gp") as gp:
        answers.append(gp.post("/api/deals", json={"name": ""}))
        answers.append(gp.get("/api/deals/not-a-deal-id"))
        answers.append(gp.post("/api/capital-calls/x/payments", json={}))  # a money POST without its key
    with httpx.Client(base_url=stack.kernel.url, timeout=30) as kernel:
        answers.append(kernel.get(f"/kernel/v1/orgs/{org.org_id}/deals"))  # no service credential
    seen = set()
    for answer in answers:
        assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
        body = answer.json()
        assert body["code"] in entries, body
        assert answer.status_code in entries[body["code"]].statuses, body
        seen.add(body["code"])
    assert seen >= {"UNAUTHORIZED", "NOT_FOUND", "METHOD_NOT_ALLOWED", "VALIDATION_ERROR"}
    assert seen <= _catalogued(repo_root)


def test_error_classes_defined_outside_the_package_are_not_catalogued() -> None:
    class StandIn(NotFound):
        """A test's stand-in: not part of the API."""

        code = "STAND_IN_FOR_TEST"

    try:
        assert "STAND_IN_FOR_TEST" not in render_errors()
    finally:
        del StandIn
        gc.collect()

"""``cornerstone kernel verify`` and ``cornerstone audit verify`` against an attacker with database access, on
the whole stack (kernel and BFF as real servers), SQLite and PostgreSQL.

Each forgery is done as the outside campaign did it: drop the append-only trigger (where the table has
one) with raw SQL, change one figure or delete the newest row, put the trigger back. The money then looks
right to every reader (the LP statement shows the forged figure) and the event chain alone still verifies;
verify must name the row.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.integration.helpers import fund_scenario, money_post
from tests.support import Org, Stack, append_only_lifted, create_deal, sync_engine

FORGED_CENTS = 123_456_700


def run_verify(stack: Stack, service: str, org_id: str) -> subprocess.CompletedProcess[str]:
    """The operator command, as an operator runs it against the stack's data dir and databases."""
    return subprocess.run(
        [sys.executable, "-m", "cornerstone", service, "verify", "--org", org_id],
        env={**stack.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def kernel_engine(stack: Stack) -> Iterator[Engine]:
    engine = sync_engine(stack.databases.kernel_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def bff_engine(stack: Stack) -> Iterator[Engine]:
    engine = sync_engine(stack.databases.bff_url)
    yield engine
    engine.dispose()


@pytest.fixture
def books(org: Org) -> dict[str, Any]:
    """A fund with two investors, a call issued and paid in full, and a waterfall distribution approved by a
    second person and paid: every kind of money row exists."""
    with org.client() as admin:
        ids = fund_scenario(admin)
        call = admin.get(f"/api/capital-calls/{ids['call_id']}").json()
    with org.client("gp") as gp:
        approved = gp.post(f"/api/distributions/{ids['distribution_id']}/approve")
        assert approved.status_code == 200, approved.text
        paid = money_post(gp, f"/api/distributions/{ids['distribution_id']}/pay")
    assert paid["status"] == "paid"
    return {**ids, "call": call, "distribution": paid}


def _one(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).one()


def test_a_clean_org_verifies_green_with_its_money_and_checkpoints(
    stack: Stack, books: dict[str, Any], org: Org
) -> None:
    kernel = run_verify(stack, "kernel", org.org_id)
    assert kernel.returncode == 0, kernel.stdout + kernel.stderr
    assert f"ok   org {org.org_id}: " in kernel.stdout
    assert "money rows" in kernel.stdout
    assert "BAD" not in kernel.stdout
    assert kernel.stdout.rstrip().endswith("1 orgs verified: 1 ok, 0 bad, 0 findings")
    audit = run_verify(stack, "audit", org.org_id)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert f"ok   org {org.org_id}: " in audit.stdout


def test_a_ledger_amount_edited_behind_the_triggers_back_is_named(
    stack: Stack, books: dict[str, Any], org: Org, kernel_engine: Engine
) -> None:
    entry = _one(
        kernel_engine,
        "SELECT id, investor_id, amount FROM ledger_entries WHERE org_id = :org AND kind = 'contribution' "
        "ORDER BY id LIMIT 1",
        org=org.org_id,
    )
    with append_only_lifted(kernel_engine, "ledger_entries") as conn:
        conn.execute(
            text("UPDATE ledger_entries SET amount = amount + :forged WHERE id = :id"),
            {"forged": FORGED_CENTS, "id": entry.id},
        )
    with org.client("admin") as admin:  # every reader now believes the forged figure
        statement = admin.get(f"/api/investors/{entry.investor_id}/statement", params={"fund_id": books["fund_id"]})
    assert statement.status_code == 200, statement.text
    assert statement.json()["account"]["contributed"] == entry.amount + FORGED_CENTS

    result = run_verify(stack, "kernel", org.org_id)
    assert result.returncode == 1, result.stdout + result.stderr
    forged = entry.amount + FORGED_CENTS
    assert f"money ledger_entries {entry.id}: amount {forged}, but event seq" in result.stdout
    assert f"recorded {entry.amount}" in result.stdout
    assert "reconciliation ledger_entries" in result.stdout  # the books no longer add up either
    assert f"BAD  org {org.org_id}: " in result.stdout


def test_an_allocations_paid_edited_is_named_with_what_its_payments_say(
    stack: Stack, books: dict[str, Any], org: Org, kernel_engine: Engine
) -> None:
    share = books["call"]["allocations"][0]
    with kernel_engine.begin() as conn:  # capital_call_allocations.paid legitimately changes: no trigger
        conn.execute(
            text(
                "UPDATE capital_call_allocations SET paid = paid + :forged "
                "WHERE org_id = :org AND call_id = :call AND investor_id = :investor"
            ),
            {"forged": FORGED_CENTS, "org": org.org_id, "call": books["call_id"], "investor": share["investor_id"]},
        )
    result = run_verify(stack, "kernel", org.org_id)
    assert result.returncode == 1, result.stdout + result.stderr
    row = f"capital_call_allocations {books['call_id']}/{share['investor_id']}"
    assert (
        f"money {row}: paid {share['paid'] + FORGED_CENTS}, but the payment events for this investor sum to "
        f"{share['paid']}"
    ) in result.stdout
    assert f"reconciliation {row}: paid {share['paid'] + FORGED_CENTS} of an allocation of {share['amount']}" in (
        result.stdout
    )


def test_one_share_of_a_digest_pinned_set_is_singled_out(
    stack: Stack, books: dict[str, Any], org: Org, kernel_engine: Engine
) -> None:
    """The created event pins a distribution's shares by one digest; the edited share is still named."""
    share = books["distribution"]["allocations"][-1]
    with kernel_engine.begin() as conn:  # no trigger (the app role is simply not granted UPDATE)
        conn.execute(
            text(
                "UPDATE distribution_allocations SET amount = amount + 1 "
                "WHERE org_id = :org AND distribution_id = :distribution AND investor_id = :investor"
            ),
            {"org": org.org_id, "distribution": books["distribution_id"], "investor": share["investor_id"]},
        )
    result = run_verify(stack, "kernel", org.org_id)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        f"money distribution_allocations {books['distribution_id']}/{share['investor_id']}: "
        f"amount {share['amount'] + 1}, but event seq"
    ) in result.stdout
    assert f"pinned {share['amount']}" in result.stdout


def test_a_reconciliation_violation_is_named_with_its_figures(
    stack: Stack, books: dict[str, Any], org: Org, kernel_engine: Engine
) -> None:
    """A call's amount edited (capital_calls has no append-only trigger): the event disagrees, and the
    allocations no longer sum to the call."""
    call = books["call"]
    with kernel_engine.begin() as conn:
        conn.execute(
            text("UPDATE capital_calls SET amount = amount + 500 WHERE org_id = :org AND id = :id"),
            {"org": org.org_id, "id": call["id"]},
        )
    result = run_verify(stack, "kernel", org.org_id)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        f"reconciliation capital_calls {call['id']}: allocations sum to {call['amount']}, "
        f"the call is for {call['amount'] + 500}"
    ) in result.stdout
    assert f"money capital_calls {call['id']}: amount {call['amount'] + 500}, but event seq" in result.stdout


def test_deleting_the_last_event_is_detected_and_counted(
    stack: Stack, books: dict[str, Any], org: Org, kernel_engine: Engine
) -> None:
    last = _one(kernel_engine, "SELECT MAX(seq) AS seq FROM events WHERE org_id = :org", org=org.org_id).seq
    with append_only_lifted(kernel_engine, "events") as conn:
        conn.execute(
            text("DELETE FROM events WHERE org_id = :org AND seq >= :seq"), {"org": org.org_id, "seq": last - 1}
        )
    result = run_verify(stack, "kernel", org.org_id)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        f"truncated events seq {last - 1}..{last}: 2 missing: the signed checkpoint is at seq {last}, "
        f"the last row present is seq {last - 2}"
    ) in result.stdout


def test_deleting_the_only_event_of_a_deal_org_is_detected(stack: Stack, org: Org, kernel_engine: Engine) -> None:
    """Not a money event, and the whole chain gone: the org is still found (by its checkpoint) and named."""
    with org.client() as admin:
        create_deal(admin)
    with append_only_lifted(kernel_engine, "events") as conn:
        conn.execute(text("DELETE FROM events WHERE org_id = :org"), {"org": org.org_id})
    result = subprocess.run(
        [sys.executable, "-m", "cornerstone", "kernel", "verify"],
        env={**stack.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"BAD  org {org.org_id}: 1 findings; 0 events verified" in result.stdout
    assert "truncated events seq 1..1: 1 missing" in result.stdout


def test_deleting_the_last_audit_record_is_detected_and_counted(stack: Stack, org: Org, bff_engine: Engine) -> None:
    with org.client() as admin:
        for i in range(3):
            create_deal(admin, name=f"Anchored {i}")
    last = _one(bff_engine, "SELECT MAX(seq) AS seq FROM audit_records WHERE org_id = :org", org=org.org_id).seq
    assert run_verify(stack, "audit", org.org_id).returncode == 0
    with append_only_lifted(bff_engine, "audit_records") as conn:
        conn.execute(
            text("DELETE FROM audit_records WHERE org_id = :org AND seq = :seq"), {"org": org.org_id, "seq": last}
        )
    result = run_verify(stack, "audit", org.org_id)
    assert result.returncode == 1, result.stdout + result.stderr
    missing = (
        f"truncated audit_records seq {last}..{last}: 1 missing: the signed checkpoint is at seq {last}, "
        f"the last row present is seq {last - 1}"
    )
    assert missing in result.stdout
    with org.client("auditor") as auditor:  # the trail's Verify chain says so too
        report = auditor.get("/api/audit/verify").json()
    assert (report["ok"], report["first_bad"], report["reason"]) == (False, None, missing)
    with httpx.Client(base_url=stack.bff.url, cookies={"cs_session": org.admin_token}, timeout=30) as browser:
        page = browser.get("/admin/audit", params={"verify": "1"})
    assert page.status_code == 200, page.text
    assert "Chain does not match its signed checkpoints</strong>: truncated audit_records" in page.text
    assert "Chain broken at record" not in page.text


def test_a_checkpoint_forged_without_the_key_is_refused(stack: Stack, org: Org, kernel_engine: Engine) -> None:
    """Deleting the newest event and re-signing the head needs the key: a made-up signature is named."""
    with org.client() as admin:
        create_deal(admin)
        create_deal(admin)
    with append_only_lifted(kernel_engine, "event_checkpoints") as conn:
        conn.execute(
            text("UPDATE event_checkpoints SET mac = :mac WHERE org_id = :org AND seq = 2"),
            {"mac": "0" * 64, "org": org.org_id},
        )
    result = run_verify(stack, "kernel", org.org_id)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "checkpoint event_checkpoints " in result.stdout
    assert "seq 2: signature does not verify" in result.stdout

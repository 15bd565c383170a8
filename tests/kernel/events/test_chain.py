"""The kernel event log: its hash chain (pure), appends through the app, the database's refusal to
change history, and verification catching an attacker who goes around the refusal."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cornerstone.kernel.events.chain import GENESIS_HASH, ChainedFields, event_hash
from cornerstone.kit.canonical import canonical_json
from tests import artifact_samples
from tests.kernel.conftest import KernelServer
from tests.kernel.helpers import KernelApi, KernelDb, new_org_id, verify_org
from tests.support import Databases

# --- the hash, as a pure function ----------------------------------------------------------------

hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
instants = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))

FIELD_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.text(min_size=1, max_size=40),
    "org_id": st.text(min_size=1, max_size=40),
    "seq": st.integers(min_value=1, max_value=2**63 - 1),
    "type": st.text(min_size=1, max_size=40),
    "subject_type": st.text(min_size=1, max_size=40),
    "subject_id": st.text(min_size=1, max_size=40),
    "payload": st.text(max_size=200),
    "actor_id": st.text(min_size=1, max_size=40),
    "actor_role": st.text(min_size=1, max_size=20),
    "request_id": st.none() | st.text(max_size=40),
    "prev_hash": hex64,
    "created_at": instants,
}
assert set(FIELD_STRATEGIES) == {f.name for f in dataclasses.fields(ChainedFields)}, "a chained field is untested"

chained_fields = st.fixed_dictionaries(FIELD_STRATEGIES)


@pytest.mark.parametrize("name", sorted(FIELD_STRATEGIES))
@given(fields=chained_fields, data=st.data())
def test_changing_any_single_chained_field_changes_the_hash(
    name: str, fields: dict[str, Any], data: st.DataObject
) -> None:
    other = data.draw(FIELD_STRATEGIES[name].filter(lambda value: value != fields[name]), label="new value")
    original = ChainedFields(**fields)
    assert event_hash(dataclasses.replace(original, **{name: other})) != event_hash(original)


@given(fields=chained_fields)
def test_the_same_fields_always_hash_the_same(fields: dict[str, Any]) -> None:
    first, second = ChainedFields(**fields), ChainedFields(**dict(fields))
    assert first is not second
    digest = event_hash(first)
    assert event_hash(second) == digest
    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")


@given(fields=chained_fields, offset_minutes=st.integers(min_value=-23 * 60, max_value=23 * 60))
def test_the_hash_depends_on_the_instant_not_how_the_database_returns_it(
    fields: dict[str, Any], offset_minutes: int
) -> None:
    """SQLite hands back naive UTC, PostgreSQL an aware value: both must verify against one hash."""
    created_at: datetime = fields["created_at"]
    aware = ChainedFields(**fields)
    naive = dataclasses.replace(aware, created_at=created_at.replace(tzinfo=None))
    shifted = dataclasses.replace(aware, created_at=created_at.astimezone(timezone(timedelta(minutes=offset_minutes))))
    assert event_hash(naive) == event_hash(aware) == event_hash(shifted)


def test_the_hash_is_sha256_of_the_documented_canonical_fields() -> None:
    fields = ChainedFields(
        id="e1",
        org_id="o1",
        seq=1,
        type="deal.created",
        subject_type="deal",
        subject_id="d1",
        payload='{"name":"Tower"}',
        actor_id="u1",
        actor_role="gp",
        request_id=None,
        prev_hash=GENESIS_HASH,
        created_at=datetime(2026, 11, 28, 18, 48, 7, 76180, tzinfo=UTC),
    )
    document = {
        "actor_id": "u1",
        "actor_role": "gp",
        "created_at": "2026-11-28T18:48:07.076180Z",
        "id": "e1",
        "org_id": "o1",
        "payload": '{"name":"Tower"}',
        "prev_hash": GENESIS_HASH,
        "request_id": None,
        "seq": 1,
        "subject_id": "d1",
        "subject_type": "deal",
        "type": "deal.created",
    }
    assert event_hash(fields) == hashlib.sha256(canonical_json(document).encode()).hexdigest()


# --- the chain through the app -------------------------------------------------------------------


def make_history(kernel: KernelApi, org: str, deals: int = 3) -> list[dict[str, Any]]:
    """Some deals and a transition in a fresh org; returns the org's events in order."""
    created = [kernel.create_deal(org, name=f"Deal {i}", purchase_price=1_000_00) for i in range(deals)]
    # A pause needs only a reason, so the history holds creations and one move and nothing else.
    moved = kernel.transition(org, created[0]["id"], "on_hold", version=1, reason="Seller asked for a pause")
    assert moved.status_code == 200, moved.text
    return kernel.events(org)


def test_appends_through_the_app_form_a_contiguous_linked_chain_that_verifies(
    kernel: KernelApi, databases: Databases
) -> None:
    org = new_org_id()
    events = make_history(kernel, org, deals=3)
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert [e["type"] for e in events] == ["deal.created"] * 3 + ["deal.transitioned"]
    assert events[0]["prev_hash"] == GENESIS_HASH
    assert [e["prev_hash"] for e in events[1:]] == [e["hash"] for e in events[:-1]]
    assert len({e["hash"] for e in events}) == 4

    report = verify_org(databases.kernel_url, org)
    assert (report.ok, report.checked, report.first_bad_id, report.reason) == (True, 4, None, None)


def test_each_org_has_its_own_chain_starting_at_seq_1(kernel: KernelApi, databases: Databases) -> None:
    first, second = new_org_id(), new_org_id()
    kernel.create_deal(first)
    kernel.create_deal(second)
    kernel.create_deal(first)
    assert [(e["seq"], e["prev_hash"] == GENESIS_HASH) for e in kernel.events(first)] == [(1, True), (2, False)]
    assert [(e["seq"], e["prev_hash"] == GENESIS_HASH) for e in kernel.events(second)] == [(1, True)]
    assert verify_org(databases.kernel_url, first).checked == 2
    assert verify_org(databases.kernel_url, second).checked == 1


def test_an_org_without_events_verifies_as_empty(databases: Databases) -> None:
    report = verify_org(databases.kernel_url, new_org_id())
    assert (report.ok, report.checked) == (True, 0)


# --- the database refuses to change history ------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET payload = '{}' WHERE org_id = :org",
        "UPDATE events SET hash = prev_hash WHERE org_id = :org AND seq = 2",
        "DELETE FROM events WHERE org_id = :org",
        "DELETE FROM events WHERE org_id = :org AND seq = 3",
    ],
)
def test_the_events_table_refuses_update_and_delete(
    kernel: KernelApi, kernel_db: KernelDb, databases: Databases, statement: str
) -> None:
    org = new_org_id()
    before = make_history(kernel, org)
    with pytest.raises(DBAPIError, match="append-only"), kernel_db.engine.begin() as conn:
        conn.execute(text(statement), {"org": org})
    assert kernel.events(org) == before
    assert verify_org(databases.kernel_url, org).ok


# --- tampering, caught by `cornerstone kernel verify` --------------------------------------------


def run_verify(databases: Databases, org: str, service_key: str | None = None) -> subprocess.CompletedProcess[str]:
    """``cornerstone kernel verify --org`` as an operator runs it; ``service_key`` is the key the kernel under
    test signed its checkpoints with (the in-process kernel's is not the data dir's)."""
    env = {
        **os.environ,
        "CORNERSTONE_KERNEL_DATABASE_URL": databases.kernel_url,
        "CORNERSTONE_DATA_DIR": str(databases.data_dir),
        **({"CORNERSTONE_SERVICE_KEY": service_key} if service_key else {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "cornerstone", "kernel", "verify", "--org", org],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tamper(kernel_db: KernelDb, org: str, seq: int, **values: Any) -> None:
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    with kernel_db.append_only_lifted() as conn:
        result = conn.execute(
            text(f"UPDATE events SET {assignments} WHERE org_id = :org AND seq = :seq"),
            {**values, "org": org, "seq": seq},
        )
        assert result.rowcount == 1


def assert_still_append_only(kernel_db: KernelDb, org: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"), kernel_db.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE org_id = :org"), {"org": org})


def test_the_cli_verifies_an_untampered_org_and_exits_0(kernel: KernelApi, databases: Databases) -> None:
    org = new_org_id()
    make_history(kernel, org)
    result = run_verify(databases, org, kernel.key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok   org {org}: 4 events verified" in result.stdout
    assert "BAD" not in result.stdout


def test_the_cli_names_an_event_whose_stored_payload_was_changed(
    kernel: KernelApi, kernel_db: KernelDb, databases: Databases
) -> None:
    org = new_org_id()
    events = make_history(kernel, org)
    stored = kernel_db.events(org)
    forged = stored[1]["payload"].replace('"Deal 1"', '"Deal 1 (sold)"')
    assert forged != stored[1]["payload"]
    tamper(kernel_db, org, 2, payload=forged)
    assert_still_append_only(kernel_db, org)

    result = run_verify(databases, org, kernel.key)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"BAD  org {org}: event {events[1]['id']} (seq 2): stored hash does not match" in result.stdout
    assert "1 events before it verified" in result.stdout
    report = verify_org(databases.kernel_url, org)
    assert (report.ok, report.first_bad_id, report.first_bad_seq, report.checked) == (False, events[1]["id"], 2, 1)


def test_the_cli_names_an_event_whose_link_to_the_previous_one_was_changed(
    kernel: KernelApi, kernel_db: KernelDb, databases: Databases
) -> None:
    org = new_org_id()
    events = make_history(kernel, org)
    tamper(kernel_db, org, 3, prev_hash=events[0]["hash"])  # skip over event 2

    result = run_verify(databases, org, kernel.key)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"event {events[2]['id']} (seq 3): prev_hash does not match" in result.stdout


def test_rewriting_an_event_and_its_hash_is_caught_at_the_next_link(
    kernel: KernelApi, kernel_db: KernelDb, databases: Databases
) -> None:
    """An attacker who recomputes the forged event's own hash still breaks the chain after it."""
    org = new_org_id()
    events = make_history(kernel, org)
    stored = kernel_db.events(org)
    forged_payload = stored[1]["payload"].replace('"Deal 1"', '"Deal 1 (sold)"')
    row = events[1]
    forged = ChainedFields(
        id=row["id"],
        org_id=org,
        seq=2,
        type=row["type"],
        subject_type=row["subject_type"],
        subject_id=row["subject_id"],
        payload=forged_payload,
        actor_id=row["actor_id"],
        actor_role=row["actor_role"],
        request_id=row["request_id"],
        prev_hash=row["prev_hash"],
        created_at=datetime.fromisoformat(row["created_at"].replace("Z", "+00:00")),
    )
    tamper(kernel_db, org, 2, payload=forged_payload, hash=event_hash(forged))

    report = verify_org(databases.kernel_url, org)
    assert (report.ok, report.first_bad_id, report.first_bad_seq, report.checked) == (False, events[2]["id"], 3, 2)
    result = run_verify(databases, org, kernel.key)
    assert result.returncode == 1
    assert f"event {events[2]['id']} (seq 3): prev_hash does not match" in result.stdout


def test_a_deleted_event_is_caught_as_a_sequence_gap(
    kernel: KernelApi, kernel_db: KernelDb, databases: Databases
) -> None:
    org = new_org_id()
    events = make_history(kernel, org)
    with kernel_db.append_only_lifted() as conn:
        conn.execute(text("DELETE FROM events WHERE org_id = :org AND seq = 2"), {"org": org})

    result = run_verify(databases, org, kernel.key)
    assert result.returncode == 1
    assert f"event {events[2]['id']} (seq 3): sequence gap: expected 2, found 3" in result.stdout


def test_tampering_with_one_org_leaves_another_orgs_chain_verifying(
    kernel: KernelApi, kernel_db: KernelDb, databases: Databases
) -> None:
    victim, bystander = new_org_id(), new_org_id()
    make_history(kernel, victim)
    make_history(kernel, bystander)
    tamper(kernel_db, victim, 1, actor_id="someone-else")
    assert verify_org(databases.kernel_url, victim).first_bad_seq == 1
    assert run_verify(databases, bystander, kernel.key).returncode == 0


# --- concurrent appends --------------------------------------------------------------------------


def test_concurrent_writers_in_one_org_get_unique_contiguous_seqs_and_a_chain_that_verifies(
    kernel_server: KernelServer, databases: Databases
) -> None:
    org = new_org_id()
    threads, per_thread = 8, 5
    barrier = threading.Barrier(threads)

    def create_deals(worker: int) -> list[str]:
        with kernel_server.api() as api:
            barrier.wait(timeout=30)
            return [api.create_deal(org, name=f"Deal {worker}-{i}")["id"] for i in range(per_thread)]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        created = [deal_id for ids in pool.map(create_deals, range(threads)) for deal_id in ids]

    total = threads * per_thread
    assert len(set(created)) == total
    with kernel_server.api() as api:
        events = api.events(org)
    assert [e["seq"] for e in events] == list(range(1, total + 1))
    assert sorted(e["subject_id"] for e in events) == sorted(created)
    assert [e["prev_hash"] for e in events] == [GENESIS_HASH] + [e["hash"] for e in events[:-1]]
    report = verify_org(databases.kernel_url, org)
    assert (report.ok, report.checked) == (True, total)


def test_a_chain_rewritten_with_every_later_hash_recomputed_is_caught_by_its_signed_checkpoints(
    kernel: KernelApi, kernel_db: KernelDb, databases: Databases
) -> None:
    """The chain is unkeyed: an attacker who recomputes every hash after a forged event gets a chain that
    walks clean. The checkpoints signed at each append still hold the old hashes, and cannot be re-signed."""
    org = new_org_id()
    events = make_history(kernel, org)
    stored = {row["seq"]: row for row in kernel_db.events(org)}
    prev_hash = events[0]["hash"]
    for event in events[1:]:
        payload = stored[event["seq"]]["payload"].replace('"Deal 1"', '"Deal 1 (sold)"')
        fields = ChainedFields(
            id=event["id"],
            org_id=org,
            seq=event["seq"],
            type=event["type"],
            subject_type=event["subject_type"],
            subject_id=event["subject_id"],
            payload=payload,
            actor_id=event["actor_id"],
            actor_role=event["actor_role"],
            request_id=event["request_id"],
            prev_hash=prev_hash,
            created_at=datetime.fromisoformat(event["created_at"].replace("Z", "+00:00")),
        )
        prev_hash = event_hash(fields)
        tamper(kernel_db, org, event["seq"], payload=payload, prev_hash=fields.prev_hash, hash=prev_hash)

    assert verify_org(databases.kernel_url, org).ok  # the chain alone cannot tell
    result = run_verify(databases, org, kernel.key)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"BAD  org {org}: 3 findings; 4 events verified" in result.stdout
    for event in events[1:]:
        assert f"rewritten events {event['id']}: seq {event['seq']}: the signed checkpoint " in result.stdout


def test_an_artifact_uploads_event_is_signed_too_so_deleting_it_is_caught(
    kernel: KernelApi, kernel_db: KernelDb, databases: Databases
) -> None:
    """An upload writes its event in a unit of work of its own (the body streams in between): it signs too."""
    org = new_org_id()
    deal = kernel.create_deal(org)
    uploaded = kernel.http.post(
        f"/kernel/v1/orgs/{org}/deals/{deal['id']}/artifacts",
        params={"filename": "Offering Memo.pdf"},
        content=artifact_samples.PDF,
        headers={**kernel.headers(org), "Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert [e["type"] for e in kernel.events(org)] == ["deal.created", "artifact.uploaded"]
    with kernel_db.append_only_lifted() as conn:
        conn.execute(text("DELETE FROM events WHERE org_id = :org AND seq = 2"), {"org": org})

    result = run_verify(databases, org, kernel.key)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "truncated events seq 2..2: 1 missing" in result.stdout

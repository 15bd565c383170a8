"""Helpers for the kernel's tests: the specified edge table written out, a kernel client that
mints its own service tokens, and direct (sync) access to the kernel database for test setup
and for playing an attacker who can write to it."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Connection, insert, text, update
from starlette.exceptions import StarletteDeprecationWarning

from cornerstone.kernel.deals.state_machine import EDGES, AnyOf, MaterialRequired, gate_of
from cornerstone.kernel.events.service import verify_chain
from cornerstone.kernel.models import ApprovalRow, ChecklistItemRevisionRow, DealRow, MaterialRevisionRow
from cornerstone.kit.db import Database, is_sqlite
from cornerstone.kit.hashchain import ChainReport
from cornerstone.kit.service_auth import mint_service_token
from tests.support import append_only_lifted, sync_engine

with warnings.catch_warnings():
    # Starlette 1.x asks for the `httpx2` package and warns once, at import, when its TestClient
    # falls back to `httpx` (the project's dependency). The client behaves the same either way.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

__all__ = [
    "PIPELINE",
    "ROLES",
    "SPEC_EDGES",
    "STAGES",
    "KernelApi",
    "KernelDb",
    "TestClient",
    "new_org_id",
    "verify_org",
]

ROLES = ("admin", "gp", "analyst", "auditor", "lp", "external")

STAGES = (
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
    "changed",
    "distressed",
    "exited",
    "on_hold",
    "dead",
)

# The acquisition pipeline: the stages a deal can be paused (on_hold) or killed (dead) from.
PIPELINE = ("intake", "underwriting", "ic_review", "loi", "psa", "due_diligence", "financing", "closing")

_LEADERSHIP = frozenset({"admin", "gp"})
_DEAL_TEAM = frozenset({"admin", "gp", "analyst"})

# ARCHITECTURE.md §2 and API.md, written out: every edge of the deal state machine and who may
# request it. Kept independent of the kernel's own table so a slip there shows up as a test failure.
SPEC_EDGES: dict[tuple[str, str], frozenset[str]] = {
    ("intake", "underwriting"): _DEAL_TEAM,
    ("underwriting", "ic_review"): _DEAL_TEAM,
    ("ic_review", "loi"): _LEADERSHIP,
    ("ic_review", "underwriting"): _LEADERSHIP,
    ("loi", "psa"): _LEADERSHIP,
    ("psa", "due_diligence"): _LEADERSHIP,
    ("due_diligence", "financing"): _LEADERSHIP,
    ("due_diligence", "loi"): _LEADERSHIP,
    ("financing", "closing"): _LEADERSHIP,
    ("closing", "closed"): _LEADERSHIP,
    ("closed", "operating"): _LEADERSHIP,
    ("operating", "changed"): _LEADERSHIP,
    ("changed", "operating"): _LEADERSHIP,
    ("operating", "distressed"): _LEADERSHIP,
    ("changed", "distressed"): _LEADERSHIP,
    ("distressed", "operating"): _LEADERSHIP,
    ("operating", "exited"): _LEADERSHIP,
    ("changed", "exited"): _LEADERSHIP,
    ("distressed", "exited"): _LEADERSHIP,
    **{(stage, "on_hold"): _LEADERSHIP for stage in PIPELINE},
    **{(stage, "dead"): _LEADERSHIP for stage in PIPELINE},
    **{("on_hold", stage): _LEADERSHIP for stage in PIPELINE},
    ("on_hold", "dead"): _LEADERSHIP,
    ("dead", "intake"): _LEADERSHIP,
}


def new_org_id() -> str:
    """A fresh tenant: every test works in its own org and so sees nothing of any other test."""
    return uuid.uuid4().hex


class KernelApi:
    """A kernel client (in-process ``TestClient`` or ``httpx.Client`` on a real server) minting service tokens."""

    def __init__(self, http: httpx.Client, key: str) -> None:
        self.http = http
        self.key = key

    def __enter__(self) -> KernelApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.http.close()

    def headers(self, org_id: str, role: str = "admin", actor_id: str | None = None) -> dict[str, str]:
        token = mint_service_token(self.key, org_id=org_id, actor_id=actor_id or f"user-{role}", actor_role=role)
        return {"Authorization": f"Bearer {token}"}

    @staticmethod
    def deals_path(org_id: str, *rest: str) -> str:
        return "/".join([f"/kernel/v1/orgs/{org_id}/deals", *rest])

    def create_deal(self, org_id: str, *, role: str = "admin", **fields: Any) -> dict[str, Any]:
        body = {"name": "Test Tower", "asset_class": "office", **fields}
        response = self.http.post(self.deals_path(org_id), json=body, headers=self.headers(org_id, role))
        assert response.status_code == 201, response.text
        return dict(response.json())

    def get_deal(self, org_id: str, deal_id: str, *, role: str = "admin") -> httpx.Response:
        return self.http.get(self.deals_path(org_id, deal_id), headers=self.headers(org_id, role))

    def list_deals(self, org_id: str, *, role: str = "admin", **params: Any) -> httpx.Response:
        return self.http.get(self.deals_path(org_id), params=params, headers=self.headers(org_id, role))

    def transition(
        self, org_id: str, deal_id: str, to: str, *, version: int, role: str = "admin", reason: str | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"to": to, "version": version}
        if reason is not None:
            body["reason"] = reason
        return self.http.post(
            self.deals_path(org_id, deal_id, "transitions"), json=body, headers=self.headers(org_id, role)
        )

    def options(self, org_id: str, deal_id: str, *, role: str = "admin") -> httpx.Response:
        return self.http.get(self.deals_path(org_id, deal_id, "transitions"), headers=self.headers(org_id, role))

    def events(self, org_id: str, *, subject_id: str | None = None) -> list[dict[str, Any]]:
        """Every event of the org (or of one subject), following ``next_after`` to the end."""
        items: list[dict[str, Any]] = []
        after = 0
        while True:
            params: dict[str, Any] = {"after": after, "limit": 1000}
            if subject_id is not None:
                params["subject_id"] = subject_id
            response = self.http.get(
                f"/kernel/v1/orgs/{org_id}/events", params=params, headers=self.headers(org_id, "auditor")
            )
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["items"])
            if page["next_after"] is None:
                return items
            after = page["next_after"]


def _evidence_materials() -> frozenset[str]:
    kinds: set[str] = set()
    for edge in EDGES:
        for requirement in gate_of(edge):
            for option in requirement.options if isinstance(requirement, AnyOf) else (requirement,):
                if isinstance(option, MaterialRequired):
                    kinds.add(option.type)
    return frozenset(kinds)


EVIDENCE_MATERIALS = _evidence_materials()


class KernelDb:
    """Blocking access to the kernel database, for setup the API cannot do and for tampering."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        self.engine = sync_engine(url)

    def dispose(self) -> None:
        self.engine.dispose()

    def force_stage(self, deal_id: str, stage: str, held_from: str | None = None, *, evidenced: bool = True) -> None:
        """Put the deal in ``stage`` (stage visit 1), with every gate's evidence on file unless
        ``evidenced`` is false: these tests are about edges, roles and fields, not evidence."""
        with self.engine.begin() as conn:
            result = conn.execute(
                text("UPDATE deals SET stage = :stage, held_from = :held_from, stage_visit = 1 WHERE id = :id"),
                {"stage": stage, "held_from": held_from, "id": deal_id},
            )
            assert result.rowcount == 1
        if evidenced:
            self.add_evidence(deal_id)

    def add_evidence(self, deal_id: str) -> None:
        """Every material any gate names (at DOC), approvals of every edge from a gp, an admin and
        the deal's lender, in stage visit 1, and a settled checklist (idempotent). Written directly, as seed data."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            org_id = conn.execute(text("SELECT org_id FROM deals WHERE id = :id"), {"id": deal_id}).scalar_one()
            if conn.execute(
                text("SELECT count(*) FROM approvals WHERE deal_id = :id AND stage_visit = 1"), {"id": deal_id}
            ).scalar_one():
                return
            for kind in sorted(EVIDENCE_MATERIALS):
                conn.execute(
                    insert(MaterialRevisionRow.__table__).values(
                        id=uuid.uuid4().hex,
                        org_id=org_id,
                        material_id=uuid.uuid4().hex,
                        deal_id=deal_id,
                        type=kind,
                        revision=1,
                        data="{}",
                        truth_class="DOC",
                        artifact_id=uuid.uuid4().hex,
                        artifact_sha256="0" * 64,
                        created_by="seed",
                        created_at=now,
                    )
                )
            for target in sorted({edge.target.value for edge in EDGES}):
                for who, role, deal_role in (
                    ("seed-gp", "gp", None),
                    ("seed-admin", "admin", None),
                    ("seed-lender", "external", "lender"),
                ):
                    conn.execute(
                        insert(ApprovalRow.__table__).values(
                            id=uuid.uuid4().hex,
                            org_id=org_id,
                            deal_id=deal_id,
                            stage="seed",
                            stage_visit=1,
                            target=target,
                            decision="approve",
                            approver_id=who,
                            approver_role=role,
                            deal_role=deal_role,
                            created_at=now,
                        )
                    )
            # A settled diligence checklist: one required item, done.
            conn.execute(
                insert(ChecklistItemRevisionRow.__table__).values(
                    id=uuid.uuid4().hex,
                    org_id=org_id,
                    item_id=uuid.uuid4().hex,
                    deal_id=deal_id,
                    revision=1,
                    template="general",
                    position=1,
                    code="title.commitment",
                    category="title_survey",
                    title="Title commitment",
                    required=True,
                    status="done",
                    created_by="seed",
                    created_at=now,
                )
            )

    def set_created_at(self, deal_ids: list[str], created_at: datetime) -> None:
        # Through the mapped column's type, so the value is stored in the format the kernel writes.
        deals = DealRow.__table__
        with self.engine.begin() as conn:
            conn.execute(update(deals).where(deals.c.id.in_(deal_ids)).values(created_at=created_at))

    def events(self, org_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, seq, payload, prev_hash, hash FROM events WHERE org_id = :org ORDER BY seq"),
                {"org": org_id},
            )
            return [dict(row._mapping) for row in rows]

    def append_only_lifted(self) -> AbstractContextManager[Connection]:
        return append_only_lifted(self.engine, "events")


def verify_org(url: str, org_id: str) -> ChainReport:
    """Run the kernel's own chain verification for one org, from a sync test."""

    async def run() -> ChainReport:
        database = Database(url)
        try:
            async with database.session(org_id=org_id) as session:
                return await verify_chain(session, org_id)
        finally:
            await database.dispose()

    return asyncio.run(run())

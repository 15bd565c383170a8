"""Gathering a deal's evidence from the database and building its pack.

What goes in: the deal as the API shows it; every event whose subject is the deal, with every
field its hash covers; every material revision; every approval (withdrawn ones included);
every override; the checklist; the artifact index, with each artifact's bytes re-verified and
included while within the per-file and total caps; and the org's chain head.

Consistency: every kernel write appends to the org's event chain in its own transaction, so an
unchanged chain head means nothing was written. The head is read before and after gathering;
if it moved (PostgreSQL's read-committed statements can see a commit in between), the gathering
is repeated. Events are read up to the head only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.kernel.approvals.service import to_contract as approval_contract
from cornerstone.kernel.artifacts.service import to_contract as artifact_contract
from cornerstone.kernel.artifacts.storage import ArtifactCorrupt, ArtifactStorage
from cornerstone.kernel.checklists.service import to_contract as checklist_item_contract
from cornerstone.kernel.deals import repository as deals
from cornerstone.kernel.deals.service import to_contract as deal_contract
from cornerstone.kernel.events.chain import GENESIS_HASH
from cornerstone.kernel.evidence_pack.pack import ChainHead, PackContent, build_pack
from cornerstone.kernel.evidence_pack.signing import PackSigner
from cornerstone.kernel.materials.service import to_contract as material_contract
from cornerstone.kernel.models import (
    ApprovalRow,
    ArtifactRow,
    ChecklistItemRevisionRow,
    DealRow,
    EventRow,
    GateOverrideRow,
    MaterialRevisionRow,
)
from cornerstone.kernel.overrides.service import to_contract as override_contract
from cornerstone.kit.clock import isoformat_utc
from cornerstone.kit.problems import Forbidden, ServiceUnavailable
from cornerstone.kit.service_auth import ServiceCaller

log = structlog.get_logger("cornerstone.kernel.evidence_pack")

# Who may take a deal's evidence away (the BFF's door is the same; this is the kernel's own check).
PACK_ROLES = frozenset({"admin", "gp", "auditor"})
_GATHER_ATTEMPTS = 5


@dataclass(frozen=True)
class ArtifactCaps:
    """Artifact bytes go into a pack only up to ``per_file`` each and ``total`` in all (distinct files,
    oldest artifact first); the index lists every artifact either way."""

    per_file: int
    total: int


@dataclass(frozen=True)
class EvidencePack:
    data: bytes
    filename: str


async def chain_head(session: AsyncSession, org_id: str) -> EventRow | None:
    return (
        await session.execute(select(EventRow).where(EventRow.org_id == org_id).order_by(EventRow.seq.desc()).limit(1))
    ).scalar_one_or_none()


def event_document(row: EventRow) -> dict[str, Any]:
    """An event with every field its hash covers, as stored (``payload`` is the hashed canonical text)."""
    return {
        "id": row.id,
        "org_id": row.org_id,
        "seq": row.seq,
        "type": row.type,
        "subject_type": row.subject_type,
        "subject_id": row.subject_id,
        "payload": row.payload,
        "actor_id": row.actor_id,
        "actor_role": row.actor_role,
        "request_id": row.request_id,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
        "created_at": isoformat_utc(row.created_at),
    }


async def checklist_items(session: AsyncSession, caller: ServiceCaller, deal_id: str) -> list[dict[str, Any]]:
    """Every revision of every diligence item, in template order: the checklist's whole history."""
    rows = (
        await session.execute(
            select(ChecklistItemRevisionRow)
            .where(ChecklistItemRevisionRow.org_id == caller.org_id, ChecklistItemRevisionRow.deal_id == deal_id)
            .order_by(ChecklistItemRevisionRow.position, ChecklistItemRevisionRow.revision)
        )
    ).scalars()
    return [checklist_item_contract(row).model_dump(mode="json") for row in rows]


async def _deal_events(session: AsyncSession, caller: ServiceCaller, deal_id: str, up_to: int) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(EventRow)
            .where(EventRow.org_id == caller.org_id, EventRow.subject_id == deal_id, EventRow.seq <= up_to)
            .order_by(EventRow.seq)
        )
    ).scalars()
    return [event_document(row) for row in rows]


async def _materials(session: AsyncSession, caller: ServiceCaller, deal_id: str) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(MaterialRevisionRow)
            .where(MaterialRevisionRow.org_id == caller.org_id, MaterialRevisionRow.deal_id == deal_id)
            .order_by(MaterialRevisionRow.type, MaterialRevisionRow.revision, MaterialRevisionRow.id)
        )
    ).scalars()
    return [material_contract(row).model_dump(mode="json") for row in rows]


async def _approvals(session: AsyncSession, caller: ServiceCaller, deal: DealRow) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(ApprovalRow)
            .where(ApprovalRow.org_id == caller.org_id, ApprovalRow.deal_id == deal.id)
            .order_by(ApprovalRow.created_at, ApprovalRow.id)
        )
    ).scalars()
    return [approval_contract(row, deal).model_dump(mode="json") for row in rows]


async def _overrides(session: AsyncSession, caller: ServiceCaller, deal_id: str) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(GateOverrideRow)
            .where(GateOverrideRow.org_id == caller.org_id, GateOverrideRow.deal_id == deal_id)
            .order_by(GateOverrideRow.created_at, GateOverrideRow.id)
        )
    ).scalars()
    return [override_contract(row).model_dump(mode="json") for row in rows]


async def _read_verified(storage: ArtifactStorage, org_id: str, row: ArtifactRow) -> bytes:
    content = await storage.open_verified(org_id, row.sha256, row.size)
    return b"".join([chunk async for chunk in content.chunks()])


async def _artifacts(
    session: AsyncSession, caller: ServiceCaller, deal_id: str, storage: ArtifactStorage, caps: ArtifactCaps
) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """The index (oldest first) and the bytes included, each file re-verified against its SHA-256.
    A file whose bytes no longer match is listed as withheld (and logged), never included."""
    rows = (
        await session.execute(
            select(ArtifactRow)
            .where(ArtifactRow.org_id == caller.org_id, ArtifactRow.deal_id == deal_id)
            .order_by(ArtifactRow.created_at, ArtifactRow.id)
        )
    ).scalars()
    index: list[dict[str, Any]] = []
    included: dict[str, bytes] = {}
    withheld: dict[str, str] = {}
    total = 0
    for row in rows:
        entry = artifact_contract(row).model_dump(mode="json")
        if row.sha256 not in included and row.sha256 not in withheld:
            if row.size > caps.per_file:
                withheld[row.sha256] = f"larger than the per-file cap of {caps.per_file} bytes"
            elif total + row.size > caps.total:
                withheld[row.sha256] = f"the pack's artifact total cap of {caps.total} bytes was reached"
            else:
                try:
                    included[row.sha256] = await _read_verified(storage, caller.org_id, row)
                    total += row.size
                except ArtifactCorrupt as error:
                    log.error("artifact_corrupt", artifact_id=row.id, deal_id=deal_id, reason=error.reason)
                    withheld[row.sha256] = "the stored bytes no longer match this SHA-256"
        entry["included"] = row.sha256 in included
        entry["withheld_reason"] = withheld.get(row.sha256)
        index.append(entry)
    return index, included


async def gather(
    session: AsyncSession, caller: ServiceCaller, deal_id: str, *, storage: ArtifactStorage, caps: ArtifactCaps
) -> PackContent:
    """The deal's evidence as of one chain head (see the module docstring); 404 for a deal the caller
    cannot see, exactly as every other deal route."""
    if caller.actor_role not in PACK_ROLES:
        raise Forbidden("Only an admin, gp or auditor may download a deal's evidence pack.")
    for _ in range(_GATHER_ATTEMPTS):
        deal = await deals.visible_deal(session, caller, deal_id)
        head = await chain_head(session, caller.org_id)
        head_seq = head.seq if head else 0
        materials = await _materials(session, caller, deal.id)
        approvals = await _approvals(session, caller, deal)
        overrides = await _overrides(session, caller, deal.id)
        checklist = await checklist_items(session, caller, deal.id)
        artifacts, artifact_bytes = await _artifacts(session, caller, deal.id, storage, caps)
        events = await _deal_events(session, caller, deal.id, head_seq)
        again = await chain_head(session, caller.org_id)
        if (again.seq if again else 0) != head_seq:
            session.expire_all()
            continue
        return PackContent(
            org_id=caller.org_id,
            deal_id=deal.id,
            chain_head=ChainHead(
                seq=head_seq,
                hash=head.hash if head else GENESIS_HASH,
                created_at=isoformat_utc(head.created_at if head else deal.created_at),
            ),
            deal=deal_contract(deal).model_dump(mode="json"),
            events=events,
            materials=materials,
            approvals=approvals,
            overrides=overrides,
            checklist=checklist,
            artifacts=artifacts,
            artifact_bytes=artifact_bytes,
        )
    raise ServiceUnavailable("The deal's records kept changing while its evidence pack was gathered; retry shortly.")


async def evidence_pack(
    session: AsyncSession,
    caller: ServiceCaller,
    deal_id: str,
    *,
    storage: ArtifactStorage,
    signer: PackSigner,
    caps: ArtifactCaps,
) -> EvidencePack:
    content = await gather(session, caller, deal_id, storage=storage, caps=caps)
    return EvidencePack(build_pack(content, signer), f"evidence-pack-{content.deal_id}-seq{content.chain_head.seq}.zip")

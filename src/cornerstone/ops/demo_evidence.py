"""Walking a demo deal through its gates the way a deal team does: read what the gate says is
missing, supply exactly that (attested materials, signed documents as uploaded PDFs, approvals
from the people the gate names), then move. Everything goes through the kernel's own services,
so the demo's evidence, approvals and events are what the API would have produced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from cornerstone.contracts.checklists import ChecklistItemChange, ChecklistStatus
from cornerstone.contracts.deals import (
    ApprovalUnmet,
    CheckUnmet,
    FieldUnmet,
    MaterialOption,
    MaterialUnmet,
    Stage,
    TransitionRequest,
)
from cornerstone.contracts.evidence import ApprovalCreate, DealRole, Decision, MaterialCreate, PartyCreate, TruthClass
from cornerstone.kernel.approvals import service as approvals
from cornerstone.kernel.artifacts.service import upload_artifact
from cornerstone.kernel.artifacts.storage import ArtifactStorage
from cornerstone.kernel.checklists import service as checklists
from cornerstone.kernel.deals import service as deals
from cornerstone.kernel.materials import service as materials
from cornerstone.kernel.parties import service as parties
from cornerstone.kit.db import Database
from cornerstone.kit.service_auth import ServiceCaller

# What a demo deal's materials say (the numbers are illustrative).
MATERIAL_NOTES = {
    "rent_roll": {"occupancy": "94%", "as_of": "2026-09-30"},
    "t12": {"period": "Oct 2025 - Sep 2026", "noi_trend": "up 3.1% year on year"},
    "underwriting_summary": {"levered_irr": "0.152", "equity_multiple": "1.85", "hold_years": 5},
    "ic_memo": {"recommendation": "approve", "risks": ["lease rollover in year 2", "capex on roof"]},
    "all_equity_attestation": {"note": "acquired all-cash; debt to be placed after stabilization"},
}


def demo_document(title: str, deal_id: str) -> bytes:
    """A small valid PDF standing in for a signed document."""
    text = f"{title} - deal {deal_id}".encode()
    stream = b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET"
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>endobj\n"
        b"4 0 obj<</Length " + str(len(stream)).encode() + b">>stream\n" + stream + b"\nendstream endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


@dataclass(frozen=True, slots=True)
class DealTeam:
    """The people who supply evidence and approve: the demo gp, the admin and the lender."""

    database: Database
    storage: ArtifactStorage
    gp: ServiceCaller
    admin: ServiceCaller
    lender: ServiceCaller


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _supply_material(team: DealTeam, deal_id: str, kind: str, truth_class: TruthClass) -> None:
    artifact_id = None
    if truth_class == TruthClass.DOC:
        title = kind.replace("_", " ").title()
        uploaded = await upload_artifact(
            team.database,
            team.gp,
            deal_id,
            filename=f"{kind}.pdf",
            chunks=_once(demo_document(title, deal_id)),
            storage=team.storage,
        )
        artifact_id = uploaded.id
    async with team.database.session(write=True, org_id=team.gp.org_id) as session:
        body = MaterialCreate(
            type=kind, truth_class=truth_class, data=MATERIAL_NOTES.get(kind, {}), artifact_id=artifact_id
        )
        check = materials.stored_artifact_check(session, team.gp, team.storage)
        await materials.add_material(session, team.gp, deal_id, body, check)


async def _approve(team: DealTeam, deal_id: str, to: Stage, roles: list[str]) -> None:
    voters = [team.gp, team.admin] if "admin" in roles else [team.gp]
    if "lender" in roles or "escrow" in roles:  # a deal role: the lender party signs off
        voters = [team.gp, team.lender]
        async with team.database.session(write=True, org_id=team.gp.org_id) as session:
            await parties.add_party(
                session, team.gp, deal_id, PartyCreate(user_id=team.lender.actor_id, deal_role=DealRole.LENDER)
            )
    for voter in voters:
        async with team.database.session(write=True, org_id=team.gp.org_id) as session:
            await approvals.give_approval(
                session, voter, deal_id, ApprovalCreate(to=to, decision=Decision.APPROVE, comment="Reviewed; approve.")
            )


# A deal left in diligence shows work under way: this share of its items done, the next in review.
DILIGENCE_PROGRESS = 0.6


async def work_checklist(team: DealTeam, deal_id: str, *, share: float = 1.0) -> None:
    """Settle the first ``share`` of the deal's required diligence items, as the gp: each done (the
    survey waived in favour of the seller's recent one, as often happens), the next one in review."""
    async with team.database.session(org_id=team.gp.org_id) as session:
        items = await checklists.items_at(session, team.gp, deal_id)
    required = [item for item in items if item.required and not ChecklistStatus(item.status).settled]
    settled = round(len(required) * share)
    changes = [
        ChecklistItemChange(status=ChecklistStatus.WAIVED, reason="Seller's 2025 ALTA survey accepted by the lender.")
        if item.code == "title.survey"
        else ChecklistItemChange(status=ChecklistStatus.DONE)
        for item in required[:settled]
    ]
    if settled < len(required):
        changes.append(ChecklistItemChange(status=ChecklistStatus.IN_REVIEW))
    for item, change in zip(required, changes, strict=False):
        async with team.database.session(write=True, org_id=team.gp.org_id) as session:
            await checklists.update_item(session, team.gp, item.item_id, change)


async def advance(team: DealTeam, deal_id: str, to: Stage, reason: str | None = None) -> None:
    """Supply what the gate of ``-> to`` says is missing, then make the move as the gp."""
    async with team.database.session(org_id=team.gp.org_id) as session:
        row = await deals.read_deal(session, team.gp, deal_id)
        options = await deals.transition_options(session, team.gp, row)
    option = next(option for option in options if option.to == to)
    for unmet in option.unmet:
        if isinstance(unmet, MaterialUnmet):
            # The demo's deals are bought all-equity when that is one of the ways to satisfy the item.
            chosen: MaterialUnmet | MaterialOption = next(
                (other for other in unmet.alternatives if other.material_type == "all_equity_attestation"), unmet
            )
            await _supply_material(team, deal_id, chosen.material_type, TruthClass(chosen.min_truth_class))
        elif isinstance(unmet, ApprovalUnmet) and unmet.check == "approvals":
            await _approve(team, deal_id, to, unmet.roles)
        elif isinstance(unmet, CheckUnmet) and unmet.check == "checklist_complete":
            await work_checklist(team, deal_id)
        elif isinstance(unmet, FieldUnmet) and unmet.field == "reason" and reason:
            continue  # given with the move itself
        else:
            raise RuntimeError(f"the demo cannot satisfy: {unmet.requirement}")
    async with team.database.session(write=True, org_id=team.gp.org_id) as session:
        row = await deals.read_deal(session, team.gp, deal_id)
        await deals.transition_deal(
            session, team.gp, deal_id, TransitionRequest(to=to, reason=reason, version=row.version)
        )

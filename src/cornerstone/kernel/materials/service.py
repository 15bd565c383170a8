"""Materials: facts a deal must have, each with a truth class never taken on the caller's word.

- DOC: must reference an artifact of the same deal whose stored bytes still match their
  SHA-256 (re-checked now); the revision records that hash.
- HUMAN: records the attesting user.
- AI: only from the AI module (a service credential of its own); counts for nothing until an
  admin, gp or analyst verifies it, which adds a HUMAN revision naming the verifier.

One material per deal and type; posting the type again adds a revision. Revisions are
append-only, so what the deal knew at any instant can be read back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.evidence import Material, MaterialCreate, MaterialList, TruthClass
from cornerstone.kernel.artifacts.service import ArtifactNotFound, checked_artifact
from cornerstone.kernel.artifacts.storage import ArtifactStorage
from cornerstone.kernel.deals import repository as deals
from cornerstone.kernel.deals.state_machine import DEAL_TEAM
from cornerstone.kernel.events.service import append_event
from cornerstone.kernel.models import MaterialRevisionRow
from cornerstone.kit.canonical import canonical_json
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.ids import new_id
from cornerstone.kit.problems import Conflict, Forbidden, NotFound, invalid_field
from cornerstone.kit.service_auth import ServiceCaller

AI_SERVICE = "ai"  # the service name in the AI module's credential

# Checks an artifact for a DOC material: returns its deal id and its verified SHA-256.
ArtifactCheck = Callable[[str], Awaitable[tuple[str, str]]]


def stored_artifact_check(session: AsyncSession, caller: ServiceCaller, storage: ArtifactStorage) -> ArtifactCheck:
    """The check a DOC material's artifact passes: of the caller's org, its stored bytes re-hashed
    and still matching (``ARTIFACT_CORRUPT`` otherwise); an unknown id is a 422 on the field."""

    async def check(artifact_id: str) -> tuple[str, str]:
        try:
            row = await checked_artifact(session, caller, artifact_id, storage)
        except ArtifactNotFound:
            raise invalid_field("body.artifact_id", "no such artifact", "material") from None
        return row.deal_id, row.sha256

    return check


class MaterialNotFound(NotFound):
    """No material with this id visible to the caller."""

    code = "MATERIAL_NOT_FOUND"
    title = "Material not found"

    def __init__(self) -> None:
        super().__init__("No material with this id.")


class MaterialNotVerifiable(Conflict):
    """Only an AI material is verified; this one's latest revision is already DOC or HUMAN."""

    code = "MATERIAL_NOT_VERIFIABLE"
    title = "Only AI materials are verified"


def to_contract(row: MaterialRevisionRow) -> Material:
    data: dict[str, Any] = json.loads(row.data)
    return Material(
        id=row.material_id,
        deal_id=row.deal_id,
        type=row.type,
        revision=row.revision,
        data=data,
        truth_class=TruthClass(row.truth_class),
        artifact_id=row.artifact_id,
        artifact_sha256=row.artifact_sha256,
        attested_by=row.attested_by,
        verified_by=row.verified_by,
        verified_at=as_utc(row.verified_at) if row.verified_at else None,
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
    )


async def _latest(session: AsyncSession, caller: ServiceCaller, deal_id: str, type_: str) -> MaterialRevisionRow | None:
    return (
        await session.execute(
            select(MaterialRevisionRow)
            .where(
                MaterialRevisionRow.org_id == caller.org_id,
                MaterialRevisionRow.deal_id == deal_id,
                MaterialRevisionRow.type == type_,
            )
            .order_by(MaterialRevisionRow.revision.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def add_material(
    session: AsyncSession, caller: ServiceCaller, deal_id: str, body: MaterialCreate, check_artifact: ArtifactCheck
) -> Material:
    deal = await deals.visible_deal(session, caller, deal_id, for_update=True)
    artifact_sha256 = None
    if body.truth_class == TruthClass.AI and caller.service != AI_SERVICE:
        raise invalid_field("body.truth_class", "AI materials are created by the AI module only", "material")
    if body.truth_class == TruthClass.DOC:
        if body.artifact_id is None:
            raise invalid_field("body.artifact_id", "a DOC material must reference an uploaded artifact", "material")
        artifact_deal, artifact_sha256 = await check_artifact(body.artifact_id)
        if artifact_deal != deal.id:
            raise invalid_field("body.artifact_id", "the artifact belongs to another deal", "material")
    elif body.artifact_id is not None:
        raise invalid_field("body.artifact_id", "only a DOC material references an artifact", "material")
    previous = await _latest(session, caller, deal.id, body.type)
    row = MaterialRevisionRow(
        id=new_id(),
        org_id=caller.org_id,
        material_id=previous.material_id if previous else new_id(),
        deal_id=deal.id,
        type=body.type,
        revision=(previous.revision + 1) if previous else 1,
        data=canonical_json(body.data),
        truth_class=body.truth_class.value,
        artifact_id=body.artifact_id,
        artifact_sha256=artifact_sha256,
        attested_by=caller.actor_id if body.truth_class == TruthClass.HUMAN else None,
        verified_by=None,
        verified_at=None,
        created_by=caller.actor_id,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    material = to_contract(row)
    await _event(session, caller, "deal.material_revised", row)
    return material


async def _event(session: AsyncSession, caller: ServiceCaller, type_: str, row: MaterialRevisionRow) -> None:
    await append_event(
        session,
        caller,
        type=type_,
        subject_type="deal",
        subject_id=row.deal_id,
        payload={
            "material_id": row.material_id,
            "type": row.type,
            "revision": row.revision,
            "truth_class": row.truth_class,
            "artifact_sha256": row.artifact_sha256,
            "data_sha256": _sha256(row.data),
        },
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def verify_material(session: AsyncSession, caller: ServiceCaller, material_id: str) -> Material:
    if caller.actor_role not in DEAL_TEAM:
        raise Forbidden("Only an admin, gp or analyst can verify a material.")
    latest = (
        await session.execute(
            select(MaterialRevisionRow)
            .where(MaterialRevisionRow.org_id == caller.org_id, MaterialRevisionRow.material_id == material_id)
            .order_by(MaterialRevisionRow.revision.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if latest is None or await deals.get_deal(session, caller, latest.deal_id, for_update=True) is None:
        raise MaterialNotFound()
    if latest.truth_class != TruthClass.AI.value:
        raise MaterialNotVerifiable(f"This material is {latest.truth_class}: only AI materials are verified.")
    now = utcnow()
    row = MaterialRevisionRow(
        id=new_id(),
        org_id=caller.org_id,
        material_id=latest.material_id,
        deal_id=latest.deal_id,
        type=latest.type,
        revision=latest.revision + 1,
        data=latest.data,
        truth_class=TruthClass.HUMAN.value,
        artifact_id=None,
        artifact_sha256=None,
        attested_by=caller.actor_id,
        verified_by=caller.actor_id,
        verified_at=now,
        created_by=caller.actor_id,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    await _event(session, caller, "deal.material_verified", row)
    return to_contract(row)


async def list_materials(
    session: AsyncSession, caller: ServiceCaller, deal_id: str, *, at: datetime | None = None
) -> MaterialList:
    """The latest revision of each material of the deal (as of ``at``, when given)."""
    deal = await deals.visible_deal(session, caller, deal_id)
    conditions = [MaterialRevisionRow.org_id == caller.org_id, MaterialRevisionRow.deal_id == deal.id]
    if at is not None:
        conditions.append(MaterialRevisionRow.created_at <= at)
    latest = (
        select(MaterialRevisionRow.material_id, func.max(MaterialRevisionRow.revision).label("revision"))
        .where(*conditions)
        .group_by(MaterialRevisionRow.material_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(MaterialRevisionRow)
            .join(
                latest,
                (MaterialRevisionRow.material_id == latest.c.material_id)
                & (MaterialRevisionRow.revision == latest.c.revision),
            )
            .where(MaterialRevisionRow.org_id == caller.org_id)
            .order_by(MaterialRevisionRow.type)
        )
    ).scalars()
    return MaterialList(items=[to_contract(row) for row in rows])

"""Deal use cases. Each write changes the deal and appends its event in one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from cornerstone.contracts.deals import (
    Address,
    Deal,
    DealCreate,
    DealUpdate,
    Stage,
    TransitionOption,
    TransitionRequest,
)
from cornerstone.kernel.checklists import service as checklists
from cornerstone.kernel.deals import repository
from cornerstone.kernel.deals.gates import ADDRESS_FIELDS, SCALAR_FIELDS, gate_context
from cornerstone.kernel.deals.state_machine import (
    INITIAL_STAGE,
    PHASE_OF,
    edges_from,
    evaluate_gate,
    find_edge,
)
from cornerstone.kernel.errors import DealGuardFailed, DealTransitionNotAllowed
from cornerstone.kernel.events.service import append_event
from cornerstone.kernel.models import DealRow
from cornerstone.kernel.overrides.service import consume_override
from cornerstone.kit.clock import as_utc, utcnow
from cornerstone.kit.ids import new_id
from cornerstone.kit.problems import Forbidden, VersionConflict
from cornerstone.kit.service_auth import ServiceCaller


def to_contract(row: DealRow | Row[Any]) -> Deal:
    """The deal as the contract shows it, from its ORM object or a Core row of the ``deals`` table."""
    stage = Stage(row.stage)
    return Deal(
        id=row.id,
        name=row.name,
        asset_class=row.asset_class,
        address=Address(**{name: getattr(row, name) for name in ADDRESS_FIELDS}),
        square_feet=row.square_feet,
        units=row.units,
        currency=row.currency,
        purchase_price=row.purchase_price,
        noi=row.noi,
        loan_amount=row.loan_amount,
        equity_required=row.equity_required,
        projected_irr=row.projected_irr,
        projected_multiple=row.projected_multiple,
        stage=stage,
        phase=PHASE_OF[stage],
        held_from=Stage(row.held_from) if row.held_from else None,
        version=row.version,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def _columns(wire: dict[str, Any]) -> dict[str, Any]:
    """Wire fields (JSON form) to column values: the address is flattened, decimals stay strings."""
    columns: dict[str, Any] = {name: wire[name] for name in SCALAR_FIELDS if name in wire}
    if "address" in wire:
        address = wire["address"] or {}
        for name in ADDRESS_FIELDS:
            columns[name] = address.get(name)
    return columns


def _snapshot(row: DealRow) -> dict[str, Any]:
    return to_contract(row).model_dump(mode="json")


async def create_deal(session: AsyncSession, caller: ServiceCaller, body: DealCreate) -> Deal:
    now = utcnow()
    row = DealRow(
        id=new_id(),
        org_id=caller.org_id,
        stage=INITIAL_STAGE.value,
        held_from=None,
        version=1,
        created_by=caller.actor_id,
        created_at=now,
        updated_at=now,
        **dict.fromkeys((*SCALAR_FIELDS, *ADDRESS_FIELDS)),
    )
    for name, value in _columns(body.model_dump(mode="json")).items():
        setattr(row, name, value)
    session.add(row)
    await session.flush()
    deal = to_contract(row)
    await append_event(
        session,
        caller,
        type="deal.created",
        subject_type="deal",
        subject_id=row.id,
        payload=deal.model_dump(mode="json"),
    )
    return deal


async def read_deal(session: AsyncSession, caller: ServiceCaller, deal_id: str) -> DealRow:
    return await repository.visible_deal(session, caller, deal_id)


async def update_deal(session: AsyncSession, caller: ServiceCaller, deal_id: str, body: DealUpdate) -> Deal:
    row = await read_deal(session, caller, deal_id)
    if row.version != body.version:
        raise VersionConflict(f"The deal is at version {row.version}, not {body.version}.")
    before = _snapshot(row)
    values = _columns(body.changes())
    if all(getattr(row, name) == value for name, value in values.items()):
        return to_contract(row)  # nothing would change: no new version, no event
    values["updated_at"] = utcnow()
    if not await repository.compare_and_set(session, caller, deal_id, body.version, values):
        raise VersionConflict("The deal was changed by someone else; reload it and try again.")
    await session.refresh(row)
    deal = to_contract(row)
    after = deal.model_dump(mode="json")
    changes = {
        name: {"from": before[name], "to": after[name]}
        for name in after
        if name not in ("version", "updated_at") and before[name] != after[name]
    }
    await append_event(
        session,
        caller,
        type="deal.updated",
        subject_type="deal",
        subject_id=deal_id,
        payload={"changes": changes, "version": deal.version},
    )
    return deal


async def transition_options(session: AsyncSession, caller: ServiceCaller, row: DealRow) -> list[TransitionOption]:
    """The "why not?" preview: every edge out of the current stage, evaluated as this caller."""
    context = await gate_context(session, caller, row, reason=None)
    options = []
    for edge in edges_from(Stage(row.stage)):
        permitted = caller.actor_role in edge.roles
        unmet = evaluate_gate(edge, context)
        options.append(
            TransitionOption(
                to=edge.target,
                permitted=permitted,
                allowed=permitted and not unmet,
                roles=sorted(edge.roles),
                unmet=unmet,
            )
        )
    return options


async def transition_deal(session: AsyncSession, caller: ServiceCaller, deal_id: str, body: TransitionRequest) -> Deal:
    # The gate is checked and the move made under the deal's lock: no concurrent vote, material or
    # checklist change can slip between them.
    row = await repository.visible_deal(session, caller, deal_id, for_update=True)
    if row.version != body.version:
        # Checked first: a client acting on a stale view should reload, whatever it asked for.
        raise VersionConflict(f"The deal is at version {row.version}, not {body.version}.")
    source = Stage(row.stage)
    edge = find_edge(source, body.to)
    if edge is None:
        raise DealTransitionNotAllowed(
            f"A deal cannot move from `{source.value}` to `{body.to.value}`.",
            extra={"from": source.value, "to": body.to.value},
        )
    if caller.actor_role not in edge.roles:
        raise Forbidden(
            f"Your role cannot move a deal from `{source.value}` to `{body.to.value}`.",
            extra={"roles": sorted(edge.roles)},
        )
    unmet = evaluate_gate(edge, await gate_context(session, caller, row, body.reason))
    if unmet:
        raise DealGuardFailed(
            f"Moving to `{body.to.value}` needs: " + " ".join(u.requirement for u in unmet),
            extra={"unmet": [u.model_dump(exclude_none=True) for u in unmet]},
        )
    held_from = source.value if body.to == Stage.ON_HOLD else None
    visit = row.stage_visit
    values = {"stage": body.to.value, "held_from": held_from, "stage_visit": visit + 1, "updated_at": utcnow()}
    if not await repository.compare_and_set(session, caller, deal_id, body.version, values):
        raise VersionConflict("The deal was changed by someone else; reload it and try again.")
    override = await consume_override(session, caller, deal_id, visit, body.to)
    await session.refresh(row)
    deal = to_contract(row)
    await append_event(
        session,
        caller,
        type="deal.transitioned",
        subject_type="deal",
        subject_id=deal_id,
        payload={
            "from": source.value,
            "to": body.to.value,
            "reason": body.reason,
            "version": deal.version,
            "override_id": override,
        },
    )
    if body.to == Stage.PSA:
        await checklists.instantiate(session, caller, row, deal.updated_at.date())
    return deal

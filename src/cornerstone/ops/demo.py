"""Demo data: org "Demo Capital", one user per role, a dozen deals spread over the stages, and
a fund with investors, commitments, capital calls and a paid distribution (``demo_fund``); the
demo lp user is linked to one of the fund's investors.

Deals are created and moved by the kernel's own services, as the demo gp, so every demo
deal went through the state machine's gates and has its events in the hash chain. Like every
operator command it connects with the migration URLs (the tables' owner) and writes in units
of work scoped to the demo org.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import select

from cornerstone.bff.authz.permissions import Role
from cornerstone.bff.config import BffSettings
from cornerstone.bff.models import OrgRow, UserRow
from cornerstone.bff.orgs.service import create_org, new_org_id
from cornerstone.bff.users.service import add_user
from cornerstone.contracts.deals import Address, AssetClass, DealCreate, Stage
from cornerstone.kernel.artifacts.service import storage_of
from cornerstone.kernel.config import KernelSettings
from cornerstone.kernel.deals import service as deals
from cornerstone.kernel.deals.state_machine import PIPELINE
from cornerstone.kernel.events.service import anchor_head, events_checkpoint_key
from cornerstone.kit.db import Database
from cornerstone.kit.request_context import request_id_var
from cornerstone.kit.secrets import load_or_create_secret
from cornerstone.kit.service_auth import ServiceCaller
from cornerstone.ops.demo_evidence import DILIGENCE_PROGRESS, DealTeam, advance, work_checklist
from cornerstone.ops.demo_fund import seed_demo_fund

DEMO_ORG = "Demo Capital"
DEMO_USERS: tuple[tuple[str, Role], ...] = (
    ("admin@demo.test", Role.ADMIN),
    ("gp@demo.test", Role.GP),
    ("analyst@demo.test", Role.ANALYST),
    ("auditor@demo.test", Role.AUDITOR),
    ("lp@demo.test", Role.LP),
    ("lender@demo.test", Role.EXTERNAL),
)

# The acquisition pipeline, then ownership: the path every demo deal walks as far as its target.
FORWARD: tuple[Stage, ...] = (*PIPELINE, Stage.CLOSED, Stage.OPERATING)


@dataclass(frozen=True, slots=True)
class DemoDeal:
    name: str
    asset_class: AssetClass
    city: str
    state: str
    street: str
    postal_code: str
    square_feet: int | None
    units: int | None
    purchase_price: int | None  # cents
    noi: int | None  # cents a year
    target: Stage
    detour: Stage | None = None  # a final move off the forward path: on_hold, dead, exited, distressed


DEMO_DEALS: tuple[DemoDeal, ...] = (
    DemoDeal(
        "Elm Street Lofts",
        AssetClass.MULTIFAMILY,
        "Denver",
        "CO",
        "1420 Elm St",
        "80202",
        96_000,
        112,
        None,
        None,
        Stage.INTAKE,
    ),
    DemoDeal(
        "Riverside Commons",
        AssetClass.RETAIL,
        "Columbus",
        "OH",
        "300 W Spring St",
        "43215",
        148_500,
        None,
        2_475_000_000,
        171_600_000,
        Stage.UNDERWRITING,
    ),
    DemoDeal(
        "One Cascade Plaza",
        AssetClass.OFFICE,
        "Seattle",
        "WA",
        "1111 3rd Ave",
        "98101",
        236_000,
        None,
        9_850_000_000,
        581_000_000,
        Stage.IC_REVIEW,
    ),
    DemoDeal(
        "Bayview Courtyard Hotel",
        AssetClass.HOSPITALITY,
        "San Diego",
        "CA",
        "2510 Shelter Island Dr",
        "92106",
        118_000,
        176,
        6_400_000_000,
        467_000_000,
        Stage.LOI,
    ),
    DemoDeal(
        "Midtown Exchange",
        AssetClass.MIXED_USE,
        "Atlanta",
        "GA",
        "1100 Peachtree St NE",
        "30309",
        310_000,
        140,
        11_250_000_000,
        641_000_000,
        Stage.PSA,
    ),
    DemoDeal(
        "Gateway Commerce Park",
        AssetClass.INDUSTRIAL,
        "Dallas",
        "TX",
        "4800 Gateway Dr",
        "75261",
        525_000,
        None,
        7_320_000_000,
        402_600_000,
        Stage.DUE_DILIGENCE,
    ),
    DemoDeal(
        "Lakeshore Industrial Flex",
        AssetClass.INDUSTRIAL,
        "Chicago",
        "IL",
        "2250 S Lumber St",
        "60616",
        184_000,
        None,
        3_180_000_000,
        193_900_000,
        Stage.FINANCING,
    ),
    DemoDeal(
        "The Marlowe Apartments",
        AssetClass.MULTIFAMILY,
        "Austin",
        "TX",
        "901 E 6th St",
        "78702",
        262_000,
        284,
        7_120_000_000,
        363_100_000,
        Stage.CLOSING,
    ),
    DemoDeal(
        "Harbor Point Logistics Center",
        AssetClass.INDUSTRIAL,
        "Baltimore",
        "MD",
        "6000 Holabird Ave",
        "21224",
        412_000,
        None,
        5_850_000_000,
        339_300_000,
        Stage.OPERATING,
    ),
    DemoDeal(
        "Palm Court Shopping Center",
        AssetClass.RETAIL,
        "Phoenix",
        "AZ",
        "4747 E Camelback Rd",
        "85018",
        205_000,
        None,
        4_100_000_000,
        270_600_000,
        Stage.OPERATING,
        Stage.EXITED,
    ),
    DemoDeal(
        "Northgate Medical Office",
        AssetClass.OFFICE,
        "Charlotte",
        "NC",
        "2001 Vail Ave",
        "28207",
        88_000,
        None,
        2_960_000_000,
        186_500_000,
        Stage.UNDERWRITING,
        Stage.ON_HOLD,
    ),
    DemoDeal(
        "Cedar Ridge Self Storage",
        AssetClass.OTHER,
        "Nashville",
        "TN",
        "7380 Cedar Ridge Rd",
        "37211",
        71_000,
        640,
        1_380_000_000,
        96_600_000,
        Stage.UNDERWRITING,
        Stage.DEAD,
    ),
)

DETOUR_REASONS = {
    Stage.ON_HOLD: "Seller paused the process pending a tenant renewal.",
    Stage.DEAD: "Environmental findings made the basis unworkable.",
}


def demo_password(settings: BffSettings, explicit: str | None) -> str:
    """The demo users' password: ``--password``, else CORNERSTONE_DEMO_PASSWORD, else generated once."""
    if explicit:
        return explicit
    return load_or_create_secret(settings.data_dir, "demo_password", None)


async def demo_exists(bff: BffSettings) -> bool:
    database = Database(bff.resolved_bff_migration_database_url())
    try:
        async with database.session(all_orgs=True) as session:
            return (await session.execute(select(OrgRow.id).where(OrgRow.name == DEMO_ORG))).first() is not None
    finally:
        await database.dispose()


async def seed_demo(bff: BffSettings, kernel: KernelSettings, password: str) -> str:
    """Create the demo org, users and deals; returns the org id."""
    bff_db = Database(bff.resolved_bff_migration_database_url())
    org_id = new_org_id()
    try:
        async with bff_db.session(write=True, org_id=org_id) as session:
            created = await create_org(
                session, org_id=org_id, name=DEMO_ORG, admin_email=DEMO_USERS[0][0], admin_password=password
            )
            user_ids: dict[Role, str] = {Role.ADMIN: created.admin_id}
            for email, role in DEMO_USERS[1:]:
                user = await add_user(
                    session, org_id=created.org_id, email=email, role=role, password=password, investor_id=None
                )
                user_ids[role] = user.id

        caller = ServiceCaller(
            org_id=created.org_id, actor_id=user_ids[Role.GP], actor_role=Role.GP.value, service="demo"
        )
        admin = ServiceCaller(
            org_id=created.org_id, actor_id=user_ids[Role.ADMIN], actor_role=Role.ADMIN.value, service="demo"
        )
        lender = ServiceCaller(
            org_id=created.org_id, actor_id=user_ids[Role.EXTERNAL], actor_role=Role.EXTERNAL.value, service="demo"
        )
        kernel_db = Database(kernel.resolved_kernel_migration_database_url())
        team = DealTeam(kernel_db, storage_of(kernel), gp=caller, admin=admin, lender=lender)
        token = request_id_var.set("demo-seed")
        try:
            for spec in DEMO_DEALS:
                await _seed_deal(team, spec)
            lp_investor_id = await seed_demo_fund(kernel_db, caller, admin, kernel.field_cipher())
            # Written outside the kernel app, so signed here: deleting the newest demo events is then detected.
            await anchor_head(kernel_db, created.org_id, events_checkpoint_key(kernel.resolved_service_key()))
        finally:
            request_id_var.reset(token)
            await kernel_db.dispose()

        async with bff_db.session(write=True, org_id=org_id) as session:
            lp = await session.get(UserRow, user_ids[Role.LP])
            assert lp is not None
            lp.investor_id = lp_investor_id
    finally:
        await bff_db.dispose()
    return created.org_id


async def _seed_deal(team: DealTeam, spec: DemoDeal) -> None:
    async with team.database.session(write=True, org_id=team.gp.org_id) as session:
        deal = await deals.create_deal(
            session,
            team.gp,
            DealCreate(
                name=spec.name,
                asset_class=spec.asset_class,
                address=Address(
                    street=spec.street, city=spec.city, state=spec.state, postal_code=spec.postal_code, country="US"
                ),
                square_feet=spec.square_feet,
                units=spec.units,
                purchase_price=spec.purchase_price,
                noi=spec.noi,
            ),
        )
    path = list(FORWARD[1 : FORWARD.index(spec.target) + 1])
    if spec.detour is not None:
        path.append(spec.detour)
    for stage in path:
        await advance(team, deal.id, stage, reason=DETOUR_REASONS.get(stage))
    if spec.target == Stage.DUE_DILIGENCE and spec.detour is None:
        await work_checklist(team, deal.id, share=DILIGENCE_PROGRESS)


def seed_demo_sync(bff: BffSettings, kernel: KernelSettings, password: str) -> str:
    return asyncio.run(seed_demo(bff, kernel, password))

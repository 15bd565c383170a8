"""The demo fund: four investors, their commitments, a funded and a partly funded capital call,
a paid waterfall distribution and a NAV mark, all made by the kernel's own services.

The distribution is created by the demo gp and approved by the demo admin (maker-checker), and
every step appends its events to the org's hash chain, exactly as through the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from cornerstone.contracts.funds import (
    CapitalCallCreate,
    CommitmentCreate,
    DistributionCreate,
    DistributionKind,
    DistributionMethod,
    FundCreate,
    InvestorCreate,
    InvestorType,
    PaymentCreate,
    ValuationCreate,
)
from cornerstone.kernel.capital_calls import service as calls
from cornerstone.kernel.distributions import service as distributions
from cornerstone.kernel.funds import service as funds
from cornerstone.kernel.investors import service as investors
from cornerstone.kit.db import Database
from cornerstone.kit.field_crypto import FieldCipher
from cornerstone.kit.service_auth import ServiceCaller


@dataclass(frozen=True, slots=True)
class DemoInvestor:
    name: str
    type: InvestorType
    email: str
    commitment: int  # cents
    tax_id: str | None = None
    bank_account: str | None = None
    bank_routing: str | None = None


DEMO_FUND = FundCreate(
    name="Demo Capital Value Fund I",
    currency="USD",
    vintage=2024,
    pref_rate=Decimal("0.08"),
    catch_up_rate=Decimal("1.0"),
    carry_rate=Decimal("0.20"),
)

# The first one is the investor the demo lp user is linked to. The identifiers are fictitious.
DEMO_INVESTORS: tuple[DemoInvestor, ...] = (
    DemoInvestor(
        "Harborview Teachers Pension",
        InvestorType.PENSION,
        "investments@harborview.example",
        20_000_000_00,
        tax_id="98-7654321",
        bank_account="004417730921",
        bank_routing="021000021",
    ),
    DemoInvestor("Alder Family Trust", InvestorType.TRUST, "office@alder.example", 10_000_000_00),
    DemoInvestor("Meridian University Endowment", InvestorType.ENDOWMENT, "endow@meridian.example", 6_000_000_00),
    DemoInvestor("Quarry Road Partners LLC", InvestorType.LLC, "capital@quarryroad.example", 4_000_000_00),
)


async def seed_demo_fund(database: Database, gp: ServiceCaller, admin: ServiceCaller, cipher: FieldCipher) -> str:
    """Create the demo fund and its history; returns the id of the lp user's investor."""

    async with database.session(write=True, org_id=gp.org_id) as session:
        fund = await funds.create_fund(session, gp, DEMO_FUND)
        investor_ids = []
        for spec in DEMO_INVESTORS:
            investor = await investors.create_investor(
                session,
                gp,
                InvestorCreate(
                    name=spec.name,
                    type=spec.type,
                    email=spec.email,
                    tax_id=spec.tax_id,
                    bank_account=spec.bank_account,
                    bank_routing=spec.bank_routing,
                ),
                cipher,
            )
            investor_ids.append(investor.id)
            await funds.add_commitment(
                session, gp, fund.id, CommitmentCreate(investor_id=investor.id, amount=spec.commitment)
            )

        first = await calls.create_call(
            session,
            gp,
            CapitalCallCreate(
                fund_id=fund.id, amount=8_000_000_00, due_date=date(2025, 3, 1), purpose="Acquisition equity"
            ),
        )
        await calls.issue_call(session, gp, first.id)
        for share in first.allocations:
            await calls.record_payment(
                session,
                gp,
                first.id,
                PaymentCreate(investor_id=share.investor_id, amount=share.amount, received_at=date(2025, 2, 26)),
            )

        distribution = await distributions.create_distribution(
            session,
            gp,
            DistributionCreate(
                fund_id=fund.id,
                amount=1_200_000_00,
                date=date(2025, 12, 31),
                method=DistributionMethod.WATERFALL,
                kind=DistributionKind.OPERATING_INCOME,
            ),
        )
        await distributions.approve_distribution(session, admin, distribution.id)
        await distributions.pay_distribution(session, gp, distribution.id)

        second = await calls.create_call(
            session,
            gp,
            CapitalCallCreate(
                fund_id=fund.id, amount=4_000_000_00, due_date=date(2026, 10, 15), purpose="Capital improvements"
            ),
        )
        await calls.issue_call(session, gp, second.id)
        # The two largest investors have paid; the others are still due.
        for share in (s for s in second.allocations if s.investor_id in investor_ids[:2]):
            await calls.record_payment(
                session,
                gp,
                second.id,
                PaymentCreate(investor_id=share.investor_id, amount=share.amount, received_at=date(2026, 10, 10)),
            )
        await funds.add_valuation(session, gp, fund.id, ValuationCreate(as_of=date(2026, 9, 30), nav=9_650_000_00))
    return investor_ids[0]

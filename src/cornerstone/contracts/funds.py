"""Fund operations on the wire: funds, investors, commitments, capital calls, distributions, ledger.

Money is always an integer count of the fund currency's minor units; rates and ratios are
decimal strings. The kernel computes every figure; these are the shapes it answers with.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

from cornerstone.contracts.types import (
    MAX_MINOR_UNITS,
    SINGLE_LINE,
    CurrencyCode,
    DecimalString,
    MinorUnits,
    MoneyDate,
    ReportedRate,
)
from cornerstone.kit.problems import NotFound

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SINGLE_LINE]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), SINGLE_LINE]
ObjectId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"), SINGLE_LINE]
Rate = Annotated[DecimalString, Field(ge=0, le=1)]
NonNegativeMinorUnits = Annotated[StrictInt, Field(ge=0, le=MAX_MINOR_UNITS)]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), SINGLE_LINE
]
# Sensitive identifiers: only their shape is checked here; the kernel stores them encrypted.
TaxId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{3,31}$"), SINGLE_LINE
]
BankAccount = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{3,33}$"), SINGLE_LINE
]
BankRouting = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9]{4,11}$"), SINGLE_LINE]

SENSITIVE_INVESTOR_FIELDS = ("tax_id", "bank_account", "bank_routing")


class Compounding(StrEnum):
    ANNUAL = "annual"
    SIMPLE = "simple"


class FundCreate(BaseModel):
    """A fund and its waterfall terms (European, whole fund; day count Act/365)."""

    model_config = _STRICT

    name: Name
    currency: CurrencyCode
    vintage: Annotated[StrictInt, Field(ge=1900, le=2200)] | None = None
    pref_rate: Rate = Decimal("0.08")
    pref_compounding: Compounding = Compounding.ANNUAL
    catch_up_rate: Rate = Field(
        default=Decimal("1.0"), description="Share of the catch-up tier paid to the GP; 0 means no catch-up."
    )
    carry_rate: Rate = Decimal("0.20")

    @model_validator(mode="after")
    def _catch_up_can_complete(self) -> Self:
        # With 0 < catch_up_rate <= carry_rate the GP would never reach its carry share.
        if self.catch_up_rate != 0 and self.catch_up_rate <= self.carry_rate:
            raise ValueError("catch_up_rate must be 0 (no catch-up) or greater than carry_rate")
        return self


class FundFigures(BaseModel):
    committed: int
    called: int = Field(description="Allocated in capital calls that are not cancelled.")
    contributed: int
    distributed: int
    carried_interest: int
    nav: int | None
    nav_as_of: date | None
    dpi: DecimalString | None
    rvpi: DecimalString | None
    tvpi: DecimalString | None


class Fund(BaseModel):
    id: str
    name: str
    currency: str
    vintage: int | None
    pref_rate: DecimalString
    pref_compounding: Compounding
    catch_up_rate: DecimalString
    carry_rate: DecimalString
    figures: FundFigures
    created_at: datetime


class FundPage(BaseModel):
    items: list[Fund]
    next_cursor: str | None


class ValuationCreate(BaseModel):
    model_config = _STRICT

    as_of: MoneyDate
    nav: NonNegativeMinorUnits


class Valuation(BaseModel):
    id: str
    fund_id: str
    as_of: date
    nav: int
    currency: str
    created_at: datetime


class InvestorType(StrEnum):
    INDIVIDUAL = "individual"
    JOINT = "joint"
    TRUST = "trust"
    LLC = "llc"
    PARTNERSHIP = "partnership"
    CORPORATION = "corporation"
    PENSION = "pension"
    ENDOWMENT = "endowment"
    FOUNDATION = "foundation"
    FAMILY_OFFICE = "family_office"
    FUND_OF_FUNDS = "fund_of_funds"
    OTHER = "other"


class InvestorNotFound(NotFound):
    """No investor with this id visible to the caller (an lp sees only their own investor).

    Shared by the kernel and the BFF (which answers it for an lp asking about another investor),
    so that both 404s are the same bytes."""

    code = "INVESTOR_NOT_FOUND"
    title = "Investor not found"

    def __init__(self) -> None:
        super().__init__("No investor with this id.")


class InvestorCreate(BaseModel):
    model_config = _STRICT

    name: Name
    type: InvestorType
    email: Email
    tax_id: TaxId | None = None
    bank_account: BankAccount | None = None
    bank_routing: BankRouting | None = None


class Investor(BaseModel):
    """An investor; the sensitive fields only ever leave the kernel masked (last four kept)."""

    id: str
    name: str
    type: InvestorType
    email: str
    tax_id: str | None
    bank_account: str | None
    bank_routing: str | None
    created_at: datetime


class InvestorPage(BaseModel):
    items: list[Investor]
    next_cursor: str | None


class CommitmentCreate(BaseModel):
    """A commitment entry. Increasing a commitment is a new entry; entries are never edited."""

    model_config = _STRICT

    investor_id: ObjectId
    amount: MinorUnits


class Commitment(BaseModel):
    id: str
    fund_id: str
    investor_id: str
    amount: int
    currency: str
    created_at: datetime


class CommitmentPage(BaseModel):
    items: list[Commitment]
    next_cursor: str | None


class CapitalCallStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PARTIALLY_FUNDED = "partially_funded"
    FUNDED = "funded"
    CANCELLED = "cancelled"


class CapitalCallCreate(BaseModel):
    model_config = _STRICT

    fund_id: ObjectId
    amount: MinorUnits
    due_date: MoneyDate
    purpose: Text
    deal_id: ObjectId | None = None


class CallAllocation(BaseModel):
    investor_id: str
    amount: int
    paid: int


class CapitalCall(BaseModel):
    id: str
    fund_id: str
    amount: int
    currency: str
    due_date: date
    purpose: str
    deal_id: str | None
    status: CapitalCallStatus
    allocations: list[CallAllocation]
    paid: int
    created_by: str
    created_at: datetime
    version: int


class CapitalCallPage(BaseModel):
    items: list[CapitalCall]
    next_cursor: str | None


class PreviewAllocation(BaseModel):
    investor_id: str
    amount: int


class CapitalCallPreview(BaseModel):
    """The shares a call would be allocated now (the body of ``CapitalCallCreate``); nothing is stored."""

    fund_id: str
    amount: int
    currency: str
    allocations: list[PreviewAllocation]


class PaymentCreate(BaseModel):
    model_config = _STRICT

    investor_id: ObjectId
    amount: MinorUnits
    received_at: MoneyDate


class DistributionMethod(StrEnum):
    PRO_RATA = "pro_rata"
    WATERFALL = "waterfall"


class DistributionKind(StrEnum):
    OPERATING_INCOME = "operating_income"
    SALE_PROCEEDS = "sale_proceeds"
    REFINANCING_PROCEEDS = "refinancing_proceeds"
    RETURN_OF_CAPITAL = "return_of_capital"
    OTHER = "other"


class DistributionStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    PAID = "paid"
    CANCELLED = "cancelled"


class DistributionCreate(BaseModel):
    model_config = _STRICT

    fund_id: ObjectId
    amount: MinorUnits
    date: MoneyDate
    method: DistributionMethod
    kind: DistributionKind = DistributionKind.OTHER


class DistributionTiers(BaseModel):
    return_of_capital: int
    preferred_return: int
    catch_up: int
    split_lp: int
    split_gp: int


class DistributionAllocation(BaseModel):
    investor_id: str
    amount: int


class Distribution(BaseModel):
    id: str
    fund_id: str
    amount: int
    currency: str
    date: date
    method: DistributionMethod
    kind: DistributionKind
    status: DistributionStatus
    allocations: list[DistributionAllocation]
    carried_interest: int
    tiers: DistributionTiers
    created_by: str
    approved_by: str | None
    created_at: datetime
    version: int


class DistributionPage(BaseModel):
    items: list[Distribution]
    next_cursor: str | None


class DistributionPreview(BaseModel):
    """What creating a distribution with the same body would compute now; nothing is stored."""

    fund_id: str
    amount: int
    currency: str
    date: date
    method: DistributionMethod
    kind: DistributionKind
    allocations: list[DistributionAllocation]
    carried_interest: int
    tiers: DistributionTiers


class LedgerEntryKind(StrEnum):
    CONTRIBUTION = "contribution"
    DISTRIBUTION = "distribution"


class LedgerEntry(BaseModel):
    id: str
    fund_id: str
    investor_id: str
    kind: LedgerEntryKind
    amount: int
    on: date
    source_type: str
    source_id: str
    created_at: datetime


class CapitalAccount(BaseModel):
    """One investor in one fund, derived from the commitments and the ledger (never stored)."""

    fund_id: str
    fund_name: str
    investor_id: str
    currency: str
    committed: int
    contributed: int
    unfunded: int
    distributed: int
    nav: int | None = Field(description="The investor's share of the latest NAV mark, pro rata to contributed.")
    nav_as_of: date | None
    dpi: DecimalString | None
    rvpi: DecimalString | None
    tvpi: DecimalString | None
    irr: ReportedRate | None = Field(
        description="XIRR of the investor's flows (NAV as the final value); null where undefined."
    )


class Portfolio(BaseModel):
    investor_id: str
    funds: list[CapitalAccount]


class InvestorCapitalCall(BaseModel):
    """A capital call as one investor sees it: the call's terms and this investor's share of it, never the
    call's total or another investor's share."""

    id: str
    fund_id: str
    currency: str
    due_date: date
    purpose: str
    status: CapitalCallStatus
    amount: int
    paid: int
    outstanding: int
    created_at: datetime


class InvestorCapitalCallPage(BaseModel):
    items: list[InvestorCapitalCall]
    next_cursor: str | None


class InvestorDistribution(BaseModel):
    """A distribution as one investor sees it: its date, kind and status, and this investor's share only."""

    id: str
    fund_id: str
    currency: str
    date: date
    kind: DistributionKind
    status: DistributionStatus
    amount: int
    created_at: datetime


class InvestorDistributionPage(BaseModel):
    items: list[InvestorDistribution]
    next_cursor: str | None


class Statement(BaseModel):
    investor_id: str
    fund_id: str
    as_of: date
    account: CapitalAccount
    entries: list[LedgerEntry]

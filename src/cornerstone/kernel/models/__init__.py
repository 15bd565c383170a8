"""Kernel tables, one per module; ``Base.metadata`` is the target of the kernel's migrations."""

from cornerstone.kernel.models.approval import ApprovalRow
from cornerstone.kernel.models.artifact import ArtifactRow
from cornerstone.kernel.models.base import Base
from cornerstone.kernel.models.capital_call import CapitalCallRow
from cornerstone.kernel.models.capital_call_allocation import CapitalCallAllocationRow
from cornerstone.kernel.models.checklist_item_revision import ChecklistItemRevisionRow
from cornerstone.kernel.models.commitment import CommitmentRow
from cornerstone.kernel.models.deal import DealRow
from cornerstone.kernel.models.deal_party import DealPartyRow
from cornerstone.kernel.models.distribution import DistributionRow
from cornerstone.kernel.models.distribution_allocation import DistributionAllocationRow
from cornerstone.kernel.models.event import EventRow
from cornerstone.kernel.models.event_checkpoint import EventCheckpointRow
from cornerstone.kernel.models.fund import FundRow
from cornerstone.kernel.models.fund_valuation import FundValuationRow
from cornerstone.kernel.models.gate_override import GateOverrideRow
from cornerstone.kernel.models.investor import InvestorRow
from cornerstone.kernel.models.ledger_entry import LedgerEntryRow
from cornerstone.kernel.models.material_revision import MaterialRevisionRow
from cornerstone.kernel.models.money_operation import MoneyOperationRow
from cornerstone.kernel.models.org_setting import OrgSettingRow

__all__ = [
    "ApprovalRow",
    "ArtifactRow",
    "Base",
    "CapitalCallAllocationRow",
    "CapitalCallRow",
    "ChecklistItemRevisionRow",
    "CommitmentRow",
    "DealPartyRow",
    "DealRow",
    "DistributionAllocationRow",
    "DistributionRow",
    "EventCheckpointRow",
    "EventRow",
    "FundRow",
    "FundValuationRow",
    "GateOverrideRow",
    "InvestorRow",
    "LedgerEntryRow",
    "MaterialRevisionRow",
    "MoneyOperationRow",
    "OrgSettingRow",
]

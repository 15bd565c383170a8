"""Diligence checklist templates per asset class, as data.

Each deal gets the items common to every acquisition plus those of its asset class (office,
multifamily, industrial, retail; other classes get the common items). ``due_days`` counts from
the day the deal entered ``psa`` (a typical 30 to 45 day diligence period); ``party`` names the
deal role that usually owns the item, so an item is assigned to the deal's party of that role
when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cornerstone.contracts.checklists import ChecklistCategory as C
from cornerstone.contracts.deals import AssetClass
from cornerstone.contracts.evidence import DealRole


@dataclass(frozen=True, slots=True)
class TemplateItem:
    code: str
    category: C
    title: str
    required: bool
    due_days: int
    party: DealRole | None = None


COUNSEL, LENDER = DealRole.COUNSEL, DealRole.LENDER

COMMON: tuple[TemplateItem, ...] = (
    TemplateItem("title.commitment", C.TITLE_SURVEY, "Title commitment and exception documents", True, 10, COUNSEL),
    TemplateItem("title.searches", C.TITLE_SURVEY, "UCC, judgment, lien and litigation searches", True, 15, COUNSEL),
    TemplateItem("title.survey", C.TITLE_SURVEY, "ALTA/NSPS land title survey", True, 20),
    TemplateItem("title.objections", C.TITLE_SURVEY, "Title and survey objection letter", True, 25, COUNSEL),
    TemplateItem("title.pro_forma", C.TITLE_SURVEY, "Pro forma owner's policy and endorsements", True, 35, COUNSEL),
    TemplateItem("env.phase_i", C.ENVIRONMENTAL, "Phase I environmental site assessment (ASTM E1527-21)", True, 25),
    TemplateItem("env.reliance", C.ENVIRONMENTAL, "Environmental reliance letter (buyer and lender)", True, 30, LENDER),
    TemplateItem("env.asbestos", C.ENVIRONMENTAL, "Asbestos and lead-based paint survey", False, 30),
    TemplateItem("env.phase_ii", C.ENVIRONMENTAL, "Phase II assessment (if the Phase I finds conditions)", False, 40),
    TemplateItem("phys.pca", C.PHYSICAL, "Property condition assessment", True, 25),
    TemplateItem("phys.site_walk", C.PHYSICAL, "Site inspection and suite or unit walk", True, 20),
    TemplateItem("phys.roof", C.PHYSICAL, "Roof inspection and warranty review", False, 25),
    TemplateItem("phys.mep", C.PHYSICAL, "Mechanical, electrical and plumbing systems review", False, 25),
    TemplateItem("phys.seismic", C.PHYSICAL, "Seismic risk assessment (probable maximum loss)", False, 30),
    TemplateItem("phys.ada", C.PHYSICAL, "Accessibility (ADA) compliance review", False, 30),
    TemplateItem("leases.certified_rent_roll", C.LEASES, "Seller-certified rent roll", True, 10),
    TemplateItem("leases.abstracts", C.LEASES, "Lease files reviewed and abstracted", True, 25, COUNSEL),
    TemplateItem("leases.estoppels", C.LEASES, "Tenant estoppel certificates", True, 30, COUNSEL),
    TemplateItem("leases.sndas", C.LEASES, "Subordination and non-disturbance agreements", False, 35, LENDER),
    TemplateItem("leases.deposits", C.LEASES, "Security deposit reconciliation", True, 30),
    TemplateItem("fin.t12_audit", C.FINANCIAL, "T-12 tied to the general ledger and bank statements", True, 20),
    TemplateItem("fin.ar_aging", C.FINANCIAL, "Accounts receivable aging", True, 15),
    TemplateItem("fin.taxes", C.FINANCIAL, "Real estate tax bills and assessment history", True, 15),
    TemplateItem("fin.utilities", C.FINANCIAL, "Twenty-four months of utility bills", False, 20),
    TemplateItem("fin.capex", C.FINANCIAL, "Capital expenditure history", False, 20),
    TemplateItem("fin.budget", C.FINANCIAL, "Current-year operating budget", False, 15),
    TemplateItem("legal.contracts", C.LEGAL, "Service contracts reviewed (assume or terminate)", True, 25, COUNSEL),
    TemplateItem("legal.authority", C.LEGAL, "Seller entity and authority documents", True, 20, COUNSEL),
    TemplateItem("legal.litigation", C.LEGAL, "Pending litigation and claims disclosure", True, 20, COUNSEL),
    TemplateItem("legal.permits", C.LEGAL, "Certificates of occupancy and operating permits", True, 25),
    TemplateItem("ins.loss_runs", C.INSURANCE, "Five-year insurance loss runs", True, 15),
    TemplateItem("ins.quotes", C.INSURANCE, "Property and liability insurance quotes", True, 30),
    TemplateItem("ins.flood", C.INSURANCE, "Flood zone determination", True, 15, LENDER),
    TemplateItem("zoning.report", C.ZONING, "Zoning report (use, parking, setbacks, nonconformities)", True, 20),
    TemplateItem("zoning.violations", C.ZONING, "Building, fire and zoning violation searches", True, 20),
)

BY_ASSET_CLASS: Mapping[AssetClass, tuple[TemplateItem, ...]] = {
    AssetClass.OFFICE: (
        TemplateItem("office.tenant_credit", C.FINANCIAL, "Major tenants' financial statements and credit", True, 25),
        TemplateItem("office.ti_lc", C.LEASES, "Outstanding tenant improvements and leasing commissions", True, 25),
        TemplateItem("office.cam", C.FINANCIAL, "Two years of operating expense reconciliations", True, 25),
        TemplateItem("office.parking", C.LEGAL, "Parking agreements and garage operator contract", False, 30),
        TemplateItem("office.elevators", C.PHYSICAL, "Elevator inspection certificates and contract", False, 25),
        TemplateItem("office.energy", C.PHYSICAL, "Energy benchmarking and building performance filings", False, 30),
    ),
    AssetClass.MULTIFAMILY: (
        TemplateItem("mf.unit_walk", C.PHYSICAL, "Inspection of every unit", True, 20),
        TemplateItem("mf.lease_audit", C.LEASES, "Lease audit against the rent roll", True, 25),
        TemplateItem("mf.delinquency", C.FINANCIAL, "Delinquency, concession and bad-debt report", True, 15),
        TemplateItem("mf.regulatory", C.LEGAL, "Rent regulation and affordability agreements", True, 25, COUNSEL),
        TemplateItem("mf.amenity_permits", C.LEGAL, "Pool and amenity permits", False, 30),
        TemplateItem("mf.moisture", C.ENVIRONMENTAL, "Moisture and mold survey", False, 30),
    ),
    AssetClass.INDUSTRIAL: (
        TemplateItem("ind.building_specs", C.PHYSICAL, "Clear height, dock doors and truck court verified", True, 20),
        TemplateItem("ind.fire_suppression", C.PHYSICAL, "Sprinkler (ESFR) and fire suppression review", True, 25),
        TemplateItem("ind.hazmat", C.ENVIRONMENTAL, "Tenants' hazardous materials use and permits", True, 25),
        TemplateItem("ind.tenant_credit", C.FINANCIAL, "Tenants' financial statements and credit", True, 25),
        TemplateItem("ind.floor_load", C.PHYSICAL, "Slab and floor load capacity", False, 30),
        TemplateItem("ind.rail", C.LEGAL, "Rail spur and access agreements", False, 30, COUNSEL),
    ),
    AssetClass.RETAIL: (
        TemplateItem("ret.sales", C.FINANCIAL, "Tenant sales reports and occupancy cost ratios", True, 20),
        TemplateItem("ret.co_tenancy", C.LEASES, "Co-tenancy, exclusive-use and kick-out clauses", True, 25, COUNSEL),
        TemplateItem("ret.reciprocal", C.LEGAL, "Reciprocal easement agreements and estoppels", True, 30, COUNSEL),
        TemplateItem("ret.cam", C.FINANCIAL, "Two years of common area maintenance reconciliations", True, 25),
        TemplateItem("ret.percentage_rent", C.LEASES, "Percentage rent calculations", False, 25),
        TemplateItem("ret.signage", C.ZONING, "Pylon and signage rights", False, 30),
    ),
}

GENERAL = "general"


def template_for(asset_class: str | None) -> tuple[str, tuple[TemplateItem, ...]]:
    """The template's name and items for a deal of ``asset_class`` (the common items alone when
    the class has no items of its own)."""
    for known, extra in BY_ASSET_CLASS.items():
        if asset_class == known.value:
            return known.value, COMMON + extra
    return GENERAL, COMMON


def _check_codes_unique() -> None:
    for name in (*BY_ASSET_CLASS, GENERAL):
        _, items = template_for(name)
        codes = [item.code for item in items]
        assert len(codes) == len(set(codes)), f"a code appears twice in the {name} template"


_check_codes_unique()

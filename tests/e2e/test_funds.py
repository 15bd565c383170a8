"""The funds and investors pages: the list of funds and a fund's page with the demo fund's figures
and investor names, a new fund with its rates typed as percentages, the investors' pages with
identifiers masked, and who may see what."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from cornerstone.bff.funds.pages import RateError, parse_percent
from cornerstone.kit.amounts import format_amount
from tests.e2e.support import UiStack, assert_accessible

DEMO_FUND = "Demo Capital Value Fund I"
DEMO_INVESTORS = (
    "Harborview Teachers Pension",
    "Alder Family Trust",
    "Meridian University Endowment",
    "Quarry Road Partners LLC",
)


@pytest.mark.parametrize(
    ("typed", "rate"),
    [
        ("8", "0.08"),
        ("8%", "0.08"),
        (" 8 % ", "0.08"),
        ("8.25", "0.0825"),
        ("20", "0.2"),
        ("100", "1"),
        ("0", "0"),
        ("0.5", "0.005"),
        ("12.3456%", "0.123456"),
    ],
)
def test_a_rate_typed_as_a_percentage_becomes_the_exact_decimal_string(typed: str, rate: str) -> None:
    assert parse_percent(typed) == rate


@pytest.mark.parametrize("typed", ["", "abc", "-8", "+8", "8e1", "1e-2", "101", "8.12345", "8,5", "%", "NaN", "٨"])
def test_anything_but_a_percentage_from_0_to_100_is_refused(typed: str) -> None:
    with pytest.raises(RateError):
        parse_percent(typed)


def _demo_fund(ui_stack: UiStack) -> dict[str, Any]:
    with ui_stack.api("gp") as gp:
        funds = gp.get("/api/funds", params={"limit": 200}).json()["items"]
    return next(fund for fund in funds if fund["name"] == DEMO_FUND)


def test_the_funds_list_shows_the_demo_fund_and_its_figures(
    ui_stack: UiStack, page_as: Callable[..., Page], snap: Callable[[Page, str], None]
) -> None:
    fund = _demo_fund(ui_stack)
    page = page_as("gp")
    page.goto("/funds")
    expect(page.get_by_role("heading", level=1)).to_have_text("Funds")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=DEMO_FUND, exact=True))
    expect(row).to_contain_text(format_amount(fund["figures"]["committed"], "USD"))
    expect(row).to_contain_text(format_amount(fund["figures"]["contributed"], "USD"))
    expect(row).to_contain_text(format_amount(fund["figures"]["distributed"], "USD"))
    expect(page.get_by_role("link", name="New fund")).to_be_visible()
    assert_accessible(page)
    snap(page, "funds")


def test_the_fund_page_shows_its_figures_commitments_by_investor_name_and_its_sections(
    ui_stack: UiStack, page_as: Callable[..., Page], snap: Callable[[Page, str], None]
) -> None:
    fund = _demo_fund(ui_stack)
    page = page_as("gp")
    page.goto("/funds")
    page.get_by_role("link", name=DEMO_FUND, exact=True).click()
    expect(page).to_have_url(f"{ui_stack.url}/funds/{fund['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(DEMO_FUND)
    figures = page.get_by_role("region", name="Figures")
    committed = format_amount(fund["figures"]["committed"], "USD")
    expect(figures.get_by_role("definition").first).to_have_text(committed)
    for term in ("Committed", "Contributed", "Unfunded", "Distributed", "NAV", "DPI", "TVPI", "IRR"):
        expect(figures.get_by_role("term").filter(has_text=term).first).to_be_visible()
    commitments = page.get_by_role("region", name="Commitments")
    for name in DEMO_INVESTORS:
        expect(commitments.get_by_role("link", name=name)).to_be_visible()
    expect(page.get_by_role("img", name="Called vs committed")).to_be_visible()
    expect(page.get_by_role("table", name="Called vs committed, per investor")).to_contain_text(DEMO_INVESTORS[0])
    for heading in ("Capital calls", "Distributions", "NAV marks"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    calls = page.get_by_role("region", name="Capital calls")
    expect(calls.get_by_role("link", name="Acquisition equity")).to_be_visible()
    expect(calls.get_by_text("Funded", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="New capital call")).to_have_attribute(
        "href", f"/funds/{fund['id']}/capital-calls/new"
    )
    expect(page.get_by_role("link", name="New distribution")).to_have_attribute(
        "href", f"/funds/{fund['id']}/distributions/new"
    )
    expect(page.get_by_role("button", name="Add commitment")).to_be_visible()
    expect(page.get_by_role("button", name="Record NAV")).to_be_visible()
    assert_accessible(page)
    snap(page, "fund")


def test_a_new_fund_takes_its_rates_as_percentages_and_gets_commitments_and_a_nav_mark(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    name = f"Harbor Growth Fund {uuid.uuid4().hex[:6]}"
    investor_name = f"Pine Street Pension {uuid.uuid4().hex[:6]}"
    with ui_stack.api("gp") as gp:
        investor = gp.post(
            "/api/investors", json={"name": investor_name, "type": "pension", "email": "ops@pine.example"}
        ).json()
    page = page_as("gp")
    page.goto("/funds")
    page.get_by_role("link", name="New fund").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New fund")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Currency").select_option("USD")
    page.get_by_label("Preferred return").fill("8.5%")
    page.get_by_label("Compounding").select_option("simple")
    page.get_by_label("Catch-up rate").fill("abc")
    page.get_by_label("Carried interest").fill("20")
    page.get_by_role("button", name="Create fund").click()
    # A rate that is not a percentage: the form again, the message next to its field, nothing created.
    expect(page.get_by_text("Enter a percentage in digits, like 8 or 8.5%.", exact=True)).to_be_visible()
    expect(page.get_by_label("Catch-up rate")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_have_value(name)
    page.get_by_label("Catch-up rate").fill("100")
    page.get_by_role("button", name="Create fund").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_role("status")).to_have_text("The fund was created.")
    fund_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    with ui_stack.api("gp") as gp:
        fund = gp.get(f"/api/funds/{fund_id}").json()
        assert [f["name"] for f in gp.get("/api/funds", params={"limit": 200}).json()["items"]].count(name) == 1
    assert (fund["pref_rate"], fund["catch_up_rate"], fund["carry_rate"]) == ("0.085", "1", "0.2")
    assert fund["pref_compounding"] == "simple"

    page.get_by_label("Investor").select_option(label=investor_name)
    page.get_by_label("Amount").fill("2,500,000")
    page.get_by_role("button", name="Add commitment").click()
    expect(page.get_by_role("status")).to_have_text("The commitment was added.")
    expect(page.get_by_role("region", name="Commitments").get_by_role("link", name=investor_name)).to_be_visible()
    expect(page.get_by_role("region", name="Figures")).to_contain_text("$2,500,000.00")

    page.get_by_label("As of").fill("2026-06-30")
    page.get_by_label("NAV", exact=True).fill("2,400,000.00")
    page.get_by_role("button", name="Record NAV").click()
    expect(page.get_by_role("status")).to_have_text("The NAV mark was recorded.")
    expect(page.get_by_role("region", name="NAV marks")).to_contain_text("$2,400,000.00 as of 2026-06-30")
    with ui_stack.api("gp") as gp:
        commitments = gp.get(f"/api/funds/{fund_id}/commitments").json()["items"]
    assert [(c["investor_id"], c["amount"]) for c in commitments] == [(investor["id"], 2_500_000_00)]


def test_the_investors_pages_show_identifiers_masked_and_never_echo_them(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    name = f"Juniper Family Office {uuid.uuid4().hex[:6]}"
    page = page_as("gp")
    page.goto("/investors")
    expect(page.get_by_role("heading", level=1)).to_have_text("Investors")
    expect(page.get_by_role("link", name=DEMO_INVESTORS[0])).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=DEMO_INVESTORS[0])).to_contain_text("**-***4321")
    assert_accessible(page)

    page.get_by_role("link", name="New investor").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Type").select_option("family_office")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Tax ID").fill("12-3456789")
    page.get_by_label("Bank account").fill("000123456789")
    page.get_by_label("Bank routing").fill("021000021")
    page.get_by_role("button", name="Create investor").click()
    # Refused (the email): the plain fields come back, the sensitive ones never do.
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value(name)
    for sensitive in ("Tax ID", "Bank account", "Bank routing"):
        expect(page.get_by_label(sensitive)).to_have_value("")
    assert "3456789" not in page.content()
    assert "000123456789" not in page.content()

    page.get_by_label("Email").fill("office@juniper.example")
    page.get_by_label("Tax ID").fill("12-3456789")
    page.get_by_label("Bank account").fill("000123456789")
    page.get_by_role("button", name="Create investor").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_role("status")).to_have_text("The investor was added.")
    details = page.get_by_role("region", name="Details")
    expect(details).to_contain_text("Family office")
    expect(details).to_contain_text("*6789")
    assert "12-3456789" not in page.content()  # only the last four ever show
    assert "000123456789" not in page.content()
    assert_accessible(page)


def test_an_investors_page_lists_its_commitments_per_fund(ui_stack: UiStack, page_as: Callable[..., Page]) -> None:
    fund = _demo_fund(ui_stack)
    with ui_stack.api("gp") as gp:
        investors = gp.get("/api/investors", params={"limit": 200}).json()["items"]
    harborview = next(i for i in investors if i["name"] == DEMO_INVESTORS[0])
    page = page_as("auditor")
    page.goto(f"/investors/{harborview['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(DEMO_INVESTORS[0])
    expect(page.get_by_role("region", name="Details")).to_contain_text(harborview["tax_id"])
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=DEMO_FUND))
    expect(row).to_contain_text("$20,000,000.00")
    expect(page.get_by_role("link", name=DEMO_FUND)).to_have_attribute("href", f"/funds/{fund['id']}")
    expect(page.get_by_role("link", name="New investor")).to_have_count(0)
    assert_accessible(page)


def test_an_lp_gets_the_403_page_on_funds_and_investors_and_a_404_for_another_investor(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    fund = _demo_fund(ui_stack)
    with ui_stack.api("gp") as gp:
        investors = gp.get("/api/investors", params={"limit": 200}).json()["items"]
    with ui_stack.api("lp") as lp:
        own_id = lp.get("/api/me").json()["investor_id"]
    other = next(i for i in investors if i["id"] != own_id)
    page = page_as("lp")
    for path in ("/funds", f"/funds/{fund['id']}", "/investors", f"/funds/{fund['id']}/capital-calls/new"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    response = page.goto(f"/investors/{other['id']}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    response = page.goto(f"/investors/{own_id}")
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(DEMO_INVESTORS[0])
    expect(page.get_by_role("row").filter(has_text=DEMO_FUND)).to_contain_text("$20,000,000.00")


def test_an_analyst_reads_funds_but_gets_no_forms_and_another_orgs_fund_is_a_404(
    page_as: Callable[..., Page], ui_stack: UiStack
) -> None:
    fund = _demo_fund(ui_stack)
    page = page_as("analyst")
    page.goto(f"/funds/{fund['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(DEMO_FUND)
    expect(page.get_by_role("button", name="Add commitment")).to_have_count(0)
    expect(page.get_by_role("link", name="New capital call")).to_have_count(0)
    response = page.goto("/funds/new")
    assert response is not None
    assert response.status == 403
    response = page.goto(f"/funds/{uuid.uuid4().hex}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")

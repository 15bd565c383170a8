"""The LP portal in the browser: the lp's figures per fund with charts over time, a statement as
of a date and its CSV download; the firm's own roles get the 403 page."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.support import UiStack, assert_accessible

FIGURES = ("Committed", "Contributed", "Unfunded", "Distributed", "NAV", "DPI", "TVPI", "IRR")
CSV_HEADER = ["fund", "investor", "as_of", "date", "item", "amount", "currency", "reference"]


def _ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def figure(scope: Any, label: str) -> Any:
    """The value (``<dd>``) of the labelled figure ``label`` (``<dt>``)."""
    term = scope.get_by_role("term").filter(has_text=re.compile(f"^{re.escape(label)}$"))
    return term.locator("xpath=following-sibling::dd[1]")


def demo_lp_fund(ui_stack: UiStack) -> dict[str, Any]:
    with ui_stack.api("lp") as lp:
        funds = _ok(lp.get("/api/portfolio"))["funds"]
    assert funds
    return dict(funds[0])


def test_the_demo_lps_portfolio_shows_every_labelled_figure_and_charts_over_time(
    ui_stack: UiStack, page_as: Callable[..., Page], snap: Callable[[Page, str], None]
) -> None:
    account = demo_lp_fund(ui_stack)
    page = page_as("lp")
    page.goto("/portfolio")
    expect(page.get_by_role("heading", level=1)).to_have_text("Portfolio")
    section = page.get_by_role("region", name=account["fund_name"])
    for label in FIGURES:
        expect(figure(section, label)).to_have_count(1)
        expect(figure(section, label)).not_to_be_empty()
    expect(figure(section, "Committed")).to_have_text(f"${account['committed'] / 100:,.2f}")
    expect(figure(section, "Distributed")).to_have_text(f"${account['distributed'] / 100:,.2f}")
    expect(figure(section, "TVPI")).to_have_text(f"{float(account['tvpi']):.2f}x")
    expect(section.get_by_role("link", name="Statement")).to_be_visible()
    expect(section.get_by_role("img", name=re.compile("^Contributions and distributions by quarter"))).to_be_visible()
    expect(section.get_by_role("img", name=re.compile("^Contributed, distributed and NAV over time"))).to_be_visible()
    expect(section.get_by_role("table", name="Contributions and distributions")).to_be_visible()
    expect(section.get_by_role("table", name="Capital account over time")).to_be_visible()
    with ui_stack.api("lp") as lp:
        calls = [c for c in _ok(lp.get("/api/portfolio/capital-calls"))["items"] if c["fund_id"] == account["fund_id"]]
    assert calls  # the demo fund has issued calls
    table = section.get_by_role("table", name="Capital calls", exact=True)
    expect(table.get_by_role("row")).to_have_count(len(calls) + 1)
    first = table.get_by_role("row").nth(1)
    expect(first).to_contain_text(calls[0]["purpose"])
    expect(first).to_contain_text(f"${calls[0]['amount'] / 100:,.2f}")
    expect(first).to_contain_text(f"${calls[0]['outstanding'] / 100:,.2f}")
    assert_accessible(page)
    snap(page, "portfolio")


def test_the_statement_as_of_a_date_and_its_csv_download(
    ui_stack: UiStack, page_as: Callable[..., Page], snap: Callable[[Page, str], None], tmp_path: Path
) -> None:
    account = demo_lp_fund(ui_stack)
    page = page_as("lp")
    page.goto("/portfolio")
    page.get_by_role("region", name=account["fund_name"]).get_by_role("link", name="Statement").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Statement — {account['fund_name']}")
    page.get_by_label("As of").fill("2026-06-30")
    page.get_by_role("button", name="Show statement").click()
    expect(page).to_have_url(re.compile(r"as_of=2026-06-30"))
    expect(page.get_by_role("heading", name="Capital account as of 2026-06-30")).to_be_visible()
    expect(figure(page, "Committed")).to_have_text(f"${account['committed'] / 100:,.2f}")
    assert_accessible(page)
    snap(page, "statement")

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download CSV").click()
    download = downloading.value
    assert re.fullmatch(r"statement-[a-z0-9-]+-2026-06-30\.csv", download.suggested_filename)
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0] == CSV_HEADER
    committed = next(row for row in rows[1:] if row[4] == "Committed")
    assert committed[0] == account["fund_name"]
    assert committed[2:4] == ["2026-06-30", "2026-06-30"]
    assert committed[5:7] == [f"{account['committed'] // 100}.{account['committed'] % 100:02d}", "USD"]
    assert any(row[4] == "Contribution" for row in rows[1:])


def test_the_statement_csv_never_starts_a_cell_with_a_formula(ui_stack: UiStack, page_as: Callable[..., Page]) -> None:
    suffix = uuid.uuid4().hex[:6]
    password = "formula-lp-password-2026"
    email = f"lp-formula-{suffix}@example.test"
    with ui_stack.api("admin") as admin:
        fund = _ok(admin.post("/api/funds", json={"name": f'=HYPERLINK("x") {suffix}', "currency": "USD"}))
        body = {"name": f"@Formula Holdings {suffix}", "type": "llc", "email": f"{suffix}@example.test"}
        investor = _ok(admin.post("/api/investors", json=body))
        _ok(
            admin.post(f"/api/funds/{fund['id']}/commitments", json={"investor_id": investor["id"], "amount": 1_000_00})
        )
        _ok(
            admin.post(
                "/api/users", json={"email": email, "role": "lp", "password": password, "investor_id": investor["id"]}
            )
        )
    page = page_as(email=email, password=password)
    response = page.request.get(f"/portfolio/statement.csv?fund_id={fund['id']}&as_of=2026-06-30")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="statement-' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text())))
    assert rows[0] == CSV_HEADER
    committed = next(row for row in rows[1:] if row[4] == "Committed")
    assert committed[0] == f'\'=HYPERLINK("x") {suffix}'
    assert committed[1] == f"'@Formula Holdings {suffix}"
    assert committed[5] == "1000.00"


def test_an_analyst_opening_the_portfolio_gets_the_403_page(page_as: Callable[..., Page]) -> None:
    page = page_as("analyst")
    with page.expect_response(lambda r: r.url.endswith("/portfolio")) as loaded:
        page.goto("/portfolio")
    assert loaded.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    statement = page.request.get("/portfolio/statement.csv")
    assert statement.status == 403

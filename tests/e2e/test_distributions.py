"""Distributions in the browser: previewed (tiers as a chart and a table, every investor's share),
created, refused to their creator (four eyes), approved by a second person, paid, and seen by the
lp in their portfolio; money forms that move money once however often they are submitted."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.support import UiStack, assert_accessible

LP_PASSWORD = "journey-lp-password-2026"


@dataclass
class Fund:
    id: str
    name: str
    investors: dict[str, str]  # id -> name


def _ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def funded_fund(ui_stack: UiStack, label: str) -> Fund:
    """A new fund whose three investors (50/30/20) paid a 1,000,000.00 call in full on 2025-01-01."""
    suffix = uuid.uuid4().hex[:6]
    with ui_stack.api("gp") as gp:
        fund = _ok(gp.post("/api/funds", json={"name": f"{label} Fund {suffix}", "currency": "USD"}))
        investors: dict[str, str] = {}
        for name, commitment in (
            ("Pension", 5_000_000_00),
            ("Family Trust", 3_000_000_00),
            ("Endowment", 2_000_000_00),
        ):
            body = {"name": f"{label} {name} {suffix}", "type": "other", "email": f"{suffix}@example.test"}
            investor = _ok(gp.post("/api/investors", json=body))
            investors[investor["id"]] = investor["name"]
            _ok(
                gp.post(
                    f"/api/funds/{fund['id']}/commitments", json={"investor_id": investor["id"], "amount": commitment}
                )
            )
        call = _ok(
            gp.post(
                "/api/capital-calls",
                json={
                    "fund_id": fund["id"],
                    "amount": 1_000_000_00,
                    "due_date": "2025-01-01",
                    "purpose": "acquisition",
                },
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
        )
        _ok(gp.post(f"/api/capital-calls/{call['id']}/issue"))
        for share in call["allocations"]:
            _ok(
                gp.post(
                    f"/api/capital-calls/{call['id']}/payments",
                    json={"investor_id": share["investor_id"], "amount": share["amount"], "received_at": "2025-01-01"},
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                )
            )
    return Fund(fund["id"], fund["name"], investors)


def lp_user_of(ui_stack: UiStack, investor_id: str) -> str:
    """A new lp user linked to ``investor_id``; returns their email."""
    email = f"lp-{uuid.uuid4().hex[:8]}@example.test"
    with ui_stack.api("admin") as admin:
        _ok(
            admin.post(
                "/api/users", json={"email": email, "role": "lp", "password": LP_PASSWORD, "investor_id": investor_id}
            )
        )
    return email


def distributions_of(ui_stack: UiStack, fund_id: str) -> list[dict[str, Any]]:
    with ui_stack.api("gp") as gp:
        return list(_ok(gp.get("/api/distributions", params={"fund_id": fund_id}))["items"])


def new_distribution(page: Page, fund_id: str, amount: str, on: str, method: str, kind: str) -> None:
    """The fund's new-distribution form, filled in (not submitted)."""
    page.goto(f"/funds/{fund_id}/distributions/new")
    page.get_by_label("Amount").fill(amount)
    page.get_by_label("Date").fill(on)
    page.get_by_label("Method").select_option(method)
    page.get_by_label("Kind").select_option(kind)


def form_fields(page: Page, form_action: str) -> dict[str, str]:
    """The values a form would submit (its hidden CSRF token and idempotency key included)."""
    values = page.evaluate(
        """(action) => {
            const form = [...document.forms].find((f) => f.getAttribute("action") === action);
            return Object.fromEntries(new FormData(form).entries());
        }""",
        form_action,
    )
    return {str(k): str(v) for k, v in values.items()}


def test_waterfall_journey_preview_create_refused_self_approval_second_person_approves_pay_lp_sees_it(
    ui_stack: UiStack, page_as: Callable[..., Page], snap: Callable[[Page, str], None]
) -> None:
    fund = funded_fund(ui_stack, "Journey")
    lp_investor = next(iter(fund.investors))
    lp_email = lp_user_of(ui_stack, lp_investor)

    gp = page_as("gp")
    new_distribution(gp, fund.id, "1,500,000.00", "2026-01-01", "waterfall", "sale_proceeds")
    expect(gp.get_by_role("heading", level=1)).to_have_text(f"New distribution — {fund.name}")
    gp.get_by_role("button", name="Preview distribution").click()

    # 1,000,000.00 capital + 80,000.00 pref (8 % for 365 days) + 20,000.00 catch-up + 400,000.00 split 80/20.
    expect(gp.get_by_role("heading", name="Preview")).to_be_visible()
    expect(gp.get_by_role("img", name="Distribution by waterfall tier")).to_be_visible()
    tiers = gp.get_by_role("table", name="Distribution by waterfall tier")
    for tier, amount in (
        ("Return of capital", "$1,000,000.00"),
        ("Preferred return", "$80,000.00"),
        ("Catch-up", "$20,000.00"),
        ("LP split", "$320,000.00"),
        ("GP split", "$80,000.00"),
        ("Carried interest", "$100,000.00"),
    ):
        expect(tiers.get_by_role("row", name=re.compile(f"^{re.escape(tier)}"))).to_contain_text(amount)
    shares = gp.get_by_role("table", name=re.compile("Each investor's share"))
    for name in fund.investors.values():
        expect(shares.get_by_role("row", name=re.compile(f"^{re.escape(name)}"))).to_be_visible()
    expect(shares.get_by_role("row", name=re.compile("^All investors"))).to_contain_text("$1,400,000.00")
    expect(shares.get_by_role("row", name=re.compile("^Distribution amount"))).to_contain_text("$1,500,000.00")
    assert distributions_of(ui_stack, fund.id) == []  # a preview stores nothing
    assert_accessible(gp)
    snap(gp, "distribution-preview")

    gp.get_by_role("button", name="Create distribution").click()
    expect(gp).to_have_url(re.compile(r"/distributions/[A-Za-z0-9_-]+\?notice=created$"))
    distribution_url = gp.url.split("?")[0]
    expect(gp.get_by_role("heading", level=1)).to_have_text(f"Distribution of $1,500,000.00 — {fund.name}")
    expect(gp.get_by_text("Status: Draft")).to_be_visible()
    expect(gp.get_by_text("You cannot approve it: you created it.")).to_be_visible()

    # The creator's own approval: the API's four-eyes refusal, said plainly.
    gp.get_by_role("button", name="Approve").click()
    alert = gp.get_by_role("alert")
    expect(alert).to_contain_text("A second person must approve")
    expect(alert).to_contain_text("cannot approve")
    expect(gp.get_by_text("the four-eyes rule needs a second person")).to_be_visible()
    expect(gp.get_by_text("Status: Draft")).to_be_visible()

    admin = page_as("admin")
    admin.goto(distribution_url)
    expect(admin.get_by_text("Any admin or gp other than its creator (gp@demo.test) may approve it.")).to_be_visible()
    admin.get_by_role("button", name="Approve").click()
    expect(admin.get_by_role("status")).to_contain_text("Distribution approved")
    expect(admin.get_by_text("Status: Approved")).to_be_visible()

    gp.goto(distribution_url)
    gp.get_by_role("button", name="Pay").click()
    expect(gp.get_by_role("status")).to_contain_text("Distribution paid")
    expect(gp.get_by_text("Status: Paid")).to_be_visible()
    expect(gp.get_by_role("list", name="Status path").get_by_role("listitem").last).to_have_attribute(
        "aria-current", "step"
    )
    expect(gp.get_by_role("table", name="Distribution by waterfall tier")).to_be_visible()
    assert_accessible(gp)
    snap(gp, "distribution")

    [paid] = distributions_of(ui_stack, fund.id)
    assert paid["status"] == "paid"
    lp_share = next(a["amount"] for a in paid["allocations"] if a["investor_id"] == lp_investor)
    assert lp_share == 700_000_00

    lp = page_as(email=lp_email, password=LP_PASSWORD)
    lp.goto("/portfolio")
    expect(lp.get_by_role("heading", level=1)).to_have_text("Portfolio")
    section = lp.get_by_role("region", name=fund.name)
    distributed = section.get_by_role("term").filter(has_text=re.compile("^Distributed$"))
    expect(distributed.locator("xpath=following-sibling::dd[1]")).to_have_text("$700,000.00")
    expect(section.get_by_role("table", name="Contributions and distributions")).to_contain_text("$700,000.00")


def test_submitting_the_same_create_and_pay_forms_twice_moves_money_once(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    fund = funded_fund(ui_stack, "Twice")
    gp = page_as("gp")
    new_distribution(gp, fund.id, "250,000.00", "2026-01-01", "pro_rata", "operating_income")
    create_action = f"/funds/{fund.id}/distributions"
    fields = form_fields(gp, create_action)
    assert fields["idempotency_key"]
    origin = {"Origin": ui_stack.url}
    first = gp.request.post(create_action, form=fields, headers=origin, max_redirects=0)
    second = gp.request.post(create_action, form=fields, headers=origin, max_redirects=0)
    assert first.status == second.status == 303
    assert first.headers["location"] == second.headers["location"]
    [created] = distributions_of(ui_stack, fund.id)
    assert first.headers["location"] == f"/distributions/{created['id']}?notice=created"

    with ui_stack.api("admin") as admin:
        _ok(admin.post(f"/api/distributions/{created['id']}/approve"))
    gp.goto(f"/distributions/{created['id']}")
    pay_action = f"/distributions/{created['id']}/pay"
    pay_fields = form_fields(gp, pay_action)
    paid = [gp.request.post(pay_action, form=pay_fields, headers=origin, max_redirects=0) for _ in range(2)]
    assert [r.status for r in paid] == [303, 303]
    assert {r.headers["location"] for r in paid} == {f"/distributions/{created['id']}?notice=paid"}

    with ui_stack.api("gp") as api:
        figures = _ok(api.get(f"/api/funds/{fund.id}"))["figures"]
        investor = next(iter(fund.investors))
        entries = _ok(api.get(f"/api/investors/{investor}/statement", params={"fund_id": fund.id}))["entries"]
    assert figures["distributed"] == 250_000_00
    assert [e["kind"] for e in entries].count("distribution") == 1
    gp.goto(f"/distributions/{created['id']}")
    expect(gp.get_by_text("Status: Paid")).to_be_visible()


def test_a_pro_rata_distribution_is_split_by_contributed_capital(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    fund = funded_fund(ui_stack, "Pro Rata")
    gp = page_as("gp")
    new_distribution(gp, fund.id, "100,000.01", "2026-03-31", "pro_rata", "operating_income")
    gp.get_by_role("button", name="Preview distribution").click()
    tiers = gp.get_by_role("table", name="Distribution by waterfall tier")
    expect(tiers.get_by_role("row", name=re.compile("^LP split"))).to_contain_text("$100,000.01")
    expect(tiers.get_by_role("row", name=re.compile("^Carried interest"))).to_contain_text("$0.00")
    gp.get_by_role("button", name="Create distribution").click()
    expect(gp.get_by_text("Status: Draft")).to_be_visible()
    [created] = distributions_of(ui_stack, fund.id)
    assert created["method"] == "pro_rata"
    assert created["kind"] == "operating_income"
    by_name = {fund.investors[a["investor_id"]]: a["amount"] for a in created["allocations"]}
    # 50/30/20 of 100,000.01: the odd cent goes to the largest remainder (the 50 % investor's).
    assert sorted(by_name.values()) == [20_000_00, 30_000_00, 50_000_01]
    shares = gp.get_by_role("table", name=re.compile("Each investor's share"))
    for name, amount in by_name.items():
        expect(shares.get_by_role("row", name=re.compile(f"^{re.escape(name)}"))).to_contain_text(
            f"${amount / 100:,.2f}"
        )


def test_a_bad_amount_is_shown_next_to_amount_and_creates_nothing(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    fund = funded_fund(ui_stack, "Typo")
    gp = page_as("gp")
    new_distribution(gp, fund.id, "12,50.5", "2026-01-01", "waterfall", "other")
    with gp.expect_response(lambda r: r.url.endswith(f"/funds/{fund.id}/distributions")) as posted:
        gp.get_by_role("button", name="Create distribution").click()
    assert posted.value.status == 422
    amount = gp.get_by_label("Amount")
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(amount).to_have_accessible_description(re.compile("Enter an amount in digits"))
    expect(amount).to_have_value("12,50.5")
    expect(gp.get_by_role("alert")).to_contain_text("Nothing was created")

    amount.fill("0")
    gp.get_by_role("button", name="Preview distribution").click()
    expect(gp.get_by_label("Amount")).to_have_accessible_description(re.compile("greater than zero"))
    assert distributions_of(ui_stack, fund.id) == []


def test_a_stale_draft_is_explained_and_can_be_cancelled(ui_stack: UiStack, page_as: Callable[..., Page]) -> None:
    fund = funded_fund(ui_stack, "Stale")
    with ui_stack.api("gp") as gp_api:
        body = {"fund_id": fund.id, "amount": 50_000_00, "date": "2026-06-30", "method": "pro_rata"}
        draft = _ok(gp_api.post("/api/distributions", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}))
        # A new contribution before the distribution's date changes the basis it was computed on.
        call_body = {"fund_id": fund.id, "amount": 100_000_00, "due_date": "2026-03-01", "purpose": "capex"}
        call = _ok(gp_api.post("/api/capital-calls", json=call_body, headers={"Idempotency-Key": uuid.uuid4().hex}))
        _ok(gp_api.post(f"/api/capital-calls/{call['id']}/issue"))
        share = call["allocations"][0]
        payment = {"investor_id": share["investor_id"], "amount": share["amount"], "received_at": "2026-03-01"}
        _ok(
            gp_api.post(
                f"/api/capital-calls/{call['id']}/payments",
                json=payment,
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
        )
    admin = page_as("admin")
    admin.goto(f"/distributions/{draft['id']}")
    admin.get_by_role("button", name="Approve").click()
    expect(admin.get_by_role("alert")).to_contain_text("outdated basis")
    expect(admin.get_by_text("Cancel this distribution and create it again")).to_be_visible()
    admin.get_by_role("button", name="Cancel distribution").click()
    expect(admin.get_by_role("status")).to_contain_text("Distribution cancelled")
    expect(admin.get_by_text("Status: Cancelled")).to_be_visible()
    expect(admin.get_by_role("button", name="Approve")).to_have_count(0)

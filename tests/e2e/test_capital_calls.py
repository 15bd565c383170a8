"""The capital call journey in the browser: a new call previewed (each investor's share) and
created, issued, paid by every investor until funded; amounts read exactly as typed; bad amounts
refused next to their field; a form submitted twice moving money once; refusals shown plainly."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from cornerstone.kit.amounts import format_amount
from tests.e2e.support import UiStack, assert_accessible

# Three investors committing 5,000,000.00 / 3,000,000.00 / 2,000,000.00.
COMMITMENTS = (5_000_000_00, 3_000_000_00, 2_000_000_00)


@dataclass
class FreshFund:
    id: str
    name: str
    investors: dict[str, str]  # id -> name


@pytest.fixture
def fresh_fund(ui_stack: UiStack) -> FreshFund:
    """A fund of its own with three investors and their commitments, made through the API as the gp."""
    suffix = uuid.uuid4().hex[:6]
    with ui_stack.api("gp") as gp:
        fund = gp.post("/api/funds", json={"name": f"Call Test Fund {suffix}", "currency": "USD"}).json()
        investors = {}
        for n, (kind, amount) in enumerate(zip(("pension", "trust", "llc"), COMMITMENTS, strict=True)):
            name = f"{('Aspen', 'Birch', 'Cedar')[n]} {kind.title()} {suffix}"
            investor = gp.post(
                "/api/investors", json={"name": name, "type": kind, "email": f"i{n}@call.example"}
            ).json()
            investors[investor["id"]] = name
            answer = gp.post(
                f"/api/funds/{fund['id']}/commitments", json={"investor_id": investor["id"], "amount": amount}
            )
            assert answer.status_code == 201, answer.text
    return FreshFund(fund["id"], fund["name"], investors)


def _calls(ui_stack: UiStack, fund_id: str) -> list[dict[str, Any]]:
    with ui_stack.api("gp") as gp:
        return list(gp.get("/api/capital-calls", params={"fund_id": fund_id, "limit": 200}).json()["items"])


def _fill_call(page: Page, amount: str, purpose: str = "Roof replacement") -> None:
    page.get_by_label("Amount").fill(amount)
    page.get_by_label("Due date").fill("2026-12-15")
    page.get_by_label("Purpose").fill(purpose)


def _create_call_in_api(ui_stack: UiStack, fund_id: str, amount: int, *, issue: bool) -> dict[str, Any]:
    with ui_stack.api("gp") as gp:
        call = gp.post(
            "/api/capital-calls",
            json={"fund_id": fund_id, "amount": amount, "due_date": "2026-11-30", "purpose": "Lobby works"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        ).json()
        if issue:
            assert gp.post(f"/api/capital-calls/{call['id']}/issue").status_code == 200
    return dict(call)


def test_the_journey_preview_create_issue_and_pay_until_funded(
    ui_stack: UiStack, page_as: Callable[..., Page], fresh_fund: FreshFund, snap: Callable[[Page, str], None]
) -> None:
    page = page_as("gp")
    page.goto(f"/funds/{fresh_fund.id}")
    page.get_by_role("link", name="New capital call").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New capital call")
    assert_accessible(page)
    _fill_call(page, "1,000,000.01")
    page.get_by_role("button", name="Preview allocation").click()
    preview = page.get_by_role("table", name="Allocation preview")
    # 1,000,000.01 over 50/30/20: the odd cent goes to the largest remainder (the 50% investor).
    shares = dict(zip(fresh_fund.investors.values(), ("$500,000.01", "$300,000.00", "$200,000.00"), strict=True))
    for name, amount in shares.items():
        expect(preview.get_by_role("row").filter(has_text=name)).to_contain_text(amount)
    expect(preview.get_by_role("row").filter(has_text="Total")).to_contain_text("$1,000,000.01")
    expect(page.get_by_label("Amount")).to_have_value("1,000,000.01")
    assert _calls(ui_stack, fresh_fund.id) == []  # a preview stores nothing
    assert_accessible(page)
    snap(page, "capital-call-new")

    page.get_by_role("button", name="Create capital call").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Capital call — Roof replacement")
    expect(page.get_by_role("status")).to_contain_text("created as a draft")
    call_id = page.url.split("/capital-calls/", 1)[1].split("?")[0]
    allocations = page.get_by_role("table", name="Each investor's share of the call")
    for name, amount in shares.items():
        expect(allocations.get_by_role("row").filter(has_text=name)).to_contain_text(amount)
    path = page.get_by_role("list", name="Status path")
    expect(path.locator("[aria-current=step]")).to_have_text("Draft")

    page.get_by_role("button", name="Issue").click()
    expect(page.get_by_role("status")).to_have_text("The call was issued to its investors.")
    expect(path.locator("[aria-current=step]")).to_have_text("Issued")
    expect(page.get_by_role("button", name="Issue")).to_have_count(0)
    assert_accessible(page)

    for n, (name, amount) in enumerate(shares.items()):
        page.get_by_label("Investor").select_option(label=f"{name} — owes {amount}")
        page.get_by_label("Amount").fill(amount)
        page.get_by_label("Received on").fill("2026-12-10")
        page.get_by_role("button", name="Record payment").click()
        expect(page.get_by_role("status")).to_have_text("The payment was recorded.")
        if n == 0:
            expect(path.locator("[aria-current=step]")).to_have_text("Partially funded")
            expect(page.get_by_role("button", name="Cancel call")).to_have_count(0)
            snap(page, "capital-call")
    expect(path.locator("[aria-current=step]")).to_have_text("Funded")
    expect(page.get_by_role("button", name="Record payment")).to_have_count(0)
    with ui_stack.api("gp") as gp:
        call = gp.get(f"/api/capital-calls/{call_id}").json()
    assert (call["status"], call["paid"], call["amount"]) == ("funded", 1_000_000_01, 1_000_000_01)
    page.goto(f"/funds/{fresh_fund.id}")
    row = page.get_by_role("region", name="Capital calls").get_by_role("row").filter(has_text="Roof replacement")
    expect(row).to_contain_text("Funded")
    expect(row).to_contain_text("$1,000,000.01")


def test_an_amount_typed_with_commas_and_cents_is_read_exactly(
    ui_stack: UiStack, page_as: Callable[..., Page], fresh_fund: FreshFund
) -> None:
    page = page_as("gp")
    page.goto(f"/funds/{fresh_fund.id}/capital-calls/new")
    _fill_call(page, "1,250,000.50", "Acquisition deposit")
    page.get_by_role("button", name="Create capital call").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Capital call — Acquisition deposit")
    [call] = _calls(ui_stack, fresh_fund.id)
    assert call["amount"] == 125000050
    assert sum(share["amount"] for share in call["allocations"]) == 125000050


@pytest.mark.parametrize(("typed", "message"), [("12.345", "USD amounts have at most 2 decimals."), ("abc", None)])
def test_a_bad_amount_is_refused_next_to_its_field_and_creates_nothing(
    ui_stack: UiStack, page_as: Callable[..., Page], fresh_fund: FreshFund, typed: str, message: str | None
) -> None:
    page = page_as("gp")
    page.goto(f"/funds/{fresh_fund.id}/capital-calls/new")
    key = page.locator("input[name=idempotency_key]").input_value()
    _fill_call(page, typed)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Create capital call").click()
    assert posted.value.status == 422
    amount = page.get_by_label("Amount")
    expect(amount).to_have_attribute("aria-invalid", "true")
    error = page.locator(f"#{amount.get_attribute('id')}-error")
    expect(error).to_have_text(message or "Enter an amount in digits, like 1,250,000.50.")
    expect(amount).to_have_value(typed)
    expect(page.get_by_label("Purpose")).to_have_value("Roof replacement")
    # Nothing was sent to the API, so the form keeps its key.
    assert page.locator("input[name=idempotency_key]").input_value() == key
    page.get_by_role("button", name="Preview allocation").click()
    expect(amount).to_have_attribute("aria-invalid", "true")
    assert _calls(ui_stack, fresh_fund.id) == []


def _submit_twice(page: Page, button: str) -> list[str]:
    """Submit the form of ``button`` twice at once, as a double click that got through would: the same
    rendered fields (its idempotency key included), posted concurrently with the page's cookies.
    Returns the URLs both answers ended on (after their redirects)."""
    urls: list[str] = page.evaluate(
        """async (name) => {
            const button = [...document.querySelectorAll("button")].find((b) => b.textContent.trim() === name);
            const form = button.form;
            const post = () => fetch(form.action, {method: "POST", body: new URLSearchParams(new FormData(form)),
                                                   credentials: "same-origin"});
            const answers = await Promise.all([post(), post()]);
            return answers.map((a) => a.status + " " + a.url);
        }""",
        button,
    )
    return urls


def test_the_create_form_submitted_twice_creates_one_call(
    ui_stack: UiStack, page_as: Callable[..., Page], fresh_fund: FreshFund
) -> None:
    page = page_as("gp")
    page.goto(f"/funds/{fresh_fund.id}/capital-calls/new")
    _fill_call(page, "600,000", "Double submit")
    answers = _submit_twice(page, "Create capital call")
    [call] = _calls(ui_stack, fresh_fund.id)
    assert call["amount"] == 600_000_00
    assert answers == [f"200 {ui_stack.url}/capital-calls/{call['id']}?notice=created"] * 2
    # The page's own submit button still works as usual, and replays the same call.
    page.get_by_role("button", name="Create capital call").click()
    expect(page).to_have_url(f"{ui_stack.url}/capital-calls/{call['id']}?notice=created")
    assert len(_calls(ui_stack, fresh_fund.id)) == 1


def test_the_payment_form_submitted_twice_records_one_payment(
    ui_stack: UiStack, page_as: Callable[..., Page], fresh_fund: FreshFund
) -> None:
    call = _create_call_in_api(ui_stack, fresh_fund.id, 100_000_00, issue=True)
    first = next(iter(fresh_fund.investors))
    page = page_as("gp")
    page.goto(f"/capital-calls/{call['id']}")
    page.get_by_label("Investor").select_option(first)
    page.get_by_label("Amount").fill("10,000")
    page.get_by_label("Received on").fill("2026-11-20")
    answers = _submit_twice(page, "Record payment")
    assert answers == [f"200 {ui_stack.url}/capital-calls/{call['id']}?notice=payment"] * 2
    with ui_stack.api("gp") as gp:
        after = gp.get(f"/api/capital-calls/{call['id']}").json()
        statement = gp.get(f"/api/investors/{first}/statement", params={"fund_id": fresh_fund.id}).json()
    assert after["paid"] == 10_000_00
    assert after["status"] == "partially_funded"
    assert [e["amount"] for e in statement["entries"] if e["kind"] == "contribution"] == [10_000_00]


def test_a_payment_above_what_the_investor_owes_is_refused_plainly(
    ui_stack: UiStack, page_as: Callable[..., Page], fresh_fund: FreshFund
) -> None:
    call = _create_call_in_api(ui_stack, fresh_fund.id, 100_000_00, issue=True)
    smallest = list(fresh_fund.investors)[2]  # 20%: owes 20,000.00
    page = page_as("gp")
    page.goto(f"/capital-calls/{call['id']}")
    key = page.locator("input[name=idempotency_key]").input_value()
    page.get_by_label("Investor").select_option(smallest)
    page.get_by_label("Amount").fill("20,000.01")
    page.get_by_label("Received on").fill("2026-11-20")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Record payment").click()
    assert posted.value.status == 409
    refusal = page.get_by_role("region", name="Record a payment").get_by_role("alert")
    expect(refusal).to_contain_text("Payment exceeds what is due")
    expect(refusal).to_contain_text(f"This investor owes {format_amount(20_000_00, 'USD')} on this call.")
    expect(refusal).to_contain_text("Request ID:")
    assert refusal.locator("code").inner_text() == posted.value.headers["x-request-id"]
    # The refusal was stored under that key: the form carries a new one, so a corrected amount goes through.
    assert page.locator("input[name=idempotency_key]").input_value() != key
    expect(page.get_by_label("Amount")).to_have_value("20,000.01")
    page.get_by_label("Amount").fill("20,000.00")
    page.get_by_role("button", name="Record payment").click()
    expect(page.get_by_role("status")).to_have_text("The payment was recorded.")
    with ui_stack.api("gp") as gp:
        assert gp.get(f"/api/capital-calls/{call['id']}").json()["paid"] == 20_000_00


def test_a_draft_can_be_cancelled_and_a_call_beyond_the_uncalled_is_refused(
    ui_stack: UiStack, page_as: Callable[..., Page], fresh_fund: FreshFund
) -> None:
    page = page_as("gp")
    page.goto(f"/funds/{fresh_fund.id}/capital-calls/new")
    _fill_call(page, "10,000,000.01", "Too much")
    page.get_by_role("button", name="Preview allocation").click()
    expect(page.get_by_role("alert")).to_contain_text("At most $10,000,000.00 of the commitments is uncalled.")
    page.get_by_role("button", name="Create capital call").click()
    expect(page.get_by_role("alert")).to_contain_text("Call exceeds unfunded commitments")
    assert _calls(ui_stack, fresh_fund.id) == []

    call = _create_call_in_api(ui_stack, fresh_fund.id, 50_000_00, issue=False)
    page.goto(f"/capital-calls/{call['id']}")
    page.get_by_role("button", name="Cancel call").click()
    expect(page.get_by_role("status")).to_have_text("The call was cancelled.")
    expect(page.get_by_text("Cancelled", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Issue")).to_have_count(0)


def test_who_may_not_see_calls_gets_the_403_page_and_another_orgs_call_is_a_404(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    with ui_stack.api("gp") as gp:
        demo_call = gp.get("/api/capital-calls", params={"limit": 1}).json()["items"][0]
    for role in ("lp", "external"):
        page = page_as(role)
        response = page.goto(f"/capital-calls/{demo_call['id']}")
        assert response is not None
        assert response.status == 403, role
        expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    page = page_as("auditor")
    response = page.goto(f"/capital-calls/{demo_call['id']}")
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("button", name="Record payment")).to_have_count(0)
    response = page.goto(f"/capital-calls/{uuid.uuid4().hex}")
    assert response is not None
    assert response.status == 404
    response = page.goto(f"/funds/{demo_call['fund_id']}/capital-calls/new")
    assert response is not None
    assert response.status == 403

"""An external party (lender@demo.test, the lender on the demo deals that closed) in the browser:
only their deals, only what the API gives them on a deal's page, only the checklist items
assigned to them, no moves, and no fund or investor pages."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.support import UiStack, assert_accessible, demo_org
from tests.support import advance, create_deal

FLOOD = "Flood zone determination"
NOT_THEIRS = "Phase I environmental site assessment (ASTM E1527-21)"


def _lender_id(ui_stack: UiStack) -> str:
    with ui_stack.api("external") as lender:
        return str(lender.get("/api/me").json()["id"])


def _deals_of(ui_stack: UiStack, role: str) -> list[dict[str, Any]]:
    deals: list[dict[str, Any]] = []
    cursor = None
    with ui_stack.api(role) as client:
        while True:
            page = client.get("/api/deals", params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
            deals.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return deals


def _lenders_deal_at_psa(ui_stack: UiStack) -> dict[str, Any]:
    """A new deal with lender@demo.test as its lender from the start, walked to PSA: the diligence
    items a lender usually owns are assigned to them when the checklist opens."""
    with ui_stack.api("gp") as gp:
        deal = create_deal(gp, name=f"Lender view {uuid.uuid4().hex[:8]}", asset_class="other")
    with ui_stack.api("admin") as admin:
        added = admin.post(
            f"/api/deals/{deal['id']}/parties", json={"user_id": _lender_id(ui_stack), "deal_role": "lender"}
        )
        assert added.status_code == 201, added.text
    org = demo_org(ui_stack)
    for stage in ("underwriting", "ic_review", "loi", "psa"):
        deal = advance(org, deal, stage)
    return deal


def test_the_lender_sees_only_their_deals_and_another_deal_is_the_404_page(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    theirs = _deals_of(ui_stack, "external")
    assert theirs, "the demo lender is a party to the demo deals that closed"
    mine = {deal["id"] for deal in theirs}
    others = [deal for deal in _deals_of(ui_stack, "admin") if deal["id"] not in mine]
    page = page_as("external")
    page.goto("/deals")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pipeline")
    main = page.get_by_role("main")
    for deal in theirs:
        expect(main.get_by_role("link", name=deal["name"], exact=True).first).to_be_visible()
    for deal in others[:5]:
        expect(main.get_by_role("link", name=deal["name"], exact=True)).to_have_count(0)
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link", name="Pipeline")).to_be_visible()
    for hidden in ("Funds", "Investors", "Portfolio", "Users", "Audit trail"):
        expect(navigation.get_by_role("link", name=hidden)).to_have_count(0)

    response = page.goto(f"/deals/{others[0]['id']}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.get_by_text(others[0]["name"])).to_have_count(0)
    for path in ("/funds", "/investors"):
        response = page.goto(path)
        assert response is not None
        assert response.status in (403, 404), path


def test_the_lender_sees_and_works_only_the_checklist_items_assigned_to_them(
    ui_stack: UiStack, page_as: Callable[..., Page], snap: Callable[[Page, str], None]
) -> None:
    deal = _lenders_deal_at_psa(ui_stack)
    lender_id = _lender_id(ui_stack)
    with ui_stack.api("gp") as gp:
        items = gp.get(f"/api/deals/{deal['id']}/checklist").json()["items"]
    assigned = [item["title"] for item in items if item["owner_id"] == lender_id]
    assert FLOOD in assigned
    assert NOT_THEIRS not in assigned

    page = page_as("external")
    page.goto(f"/deals/{deal['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(deal["name"])
    checklist = page.get_by_role("region", name="Checklist")
    expect(checklist.get_by_role("heading", level=4)).to_have_count(len(assigned))
    for title in assigned:
        expect(checklist.get_by_role("heading", name=title, exact=True)).to_be_visible()
    expect(checklist.get_by_role("heading", name=NOT_THEIRS)).to_have_count(0)

    flood = checklist.get_by_role("listitem").filter(has=page.get_by_role("heading", name=FLOOD, exact=True))
    # The item's form opens from its summary.
    flood.get_by_text(f"Update {FLOOD}", exact=True).click()
    status = flood.get_by_label("Status")
    expect(status.get_by_role("option", name="Waived")).to_have_count(0)  # waiving is the deal team's call
    expect(flood.get_by_label("Owner")).to_have_count(0)
    expect(flood.get_by_label("Due date")).to_have_count(0)
    status.select_option("done")
    flood.get_by_role("button", name="Update item").click()
    expect(page.get_by_role("status")).to_contain_text("checklist")
    flood = (
        page.get_by_role("region", name="Checklist")
        .get_by_role("listitem")
        .filter(has=page.get_by_role("heading", name=FLOOD, exact=True))
    )
    expect(flood.get_by_text("Status: Done")).to_be_visible()
    with ui_stack.api("gp") as gp:
        after = {item["title"]: item for item in gp.get(f"/api/deals/{deal['id']}/checklist").json()["items"]}
    assert after[FLOOD]["status"] == "done"
    assert after[FLOOD]["updated_by"] == lender_id

    # A lender's deal role votes on no edge out of PSA, and no role of theirs may move the deal.
    expect(page.get_by_role("button", name="Move to", exact=False)).to_have_count(0)
    expect(page.get_by_role("button", name="Approve move to", exact=False)).to_have_count(0)
    expect(page.get_by_role("button", name="Record override")).to_have_count(0)
    expect(page.get_by_role("button", name="Add party")).to_have_count(0)
    assert_accessible(page)
    snap(page, "external-party")

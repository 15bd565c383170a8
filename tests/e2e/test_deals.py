"""The deal pipeline and the deal page's core, as people use them: the board and table with their
filters, a new deal, editing (and losing a race), next steps with their moves and votes,
approvals, history, snapshots, the evidence pack, and who may see what."""

from __future__ import annotations

import re
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.support import UiStack, assert_accessible, demo_org, request_id_in_footer
from tests.support import TEST_PASSWORD, advance, login, new_org, supply_material

Snap = Callable[[Page, str], None]


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def _create_deal(ui_stack: UiStack, **fields: Any) -> dict[str, Any]:
    body = {"name": _unique("Test Deal"), "asset_class": "office", **fields}
    with ui_stack.api("gp") as gp:
        created = gp.post("/api/deals", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def _deal(ui_stack: UiStack, deal_id: str) -> dict[str, Any]:
    with ui_stack.api("gp") as gp:
        answer = gp.get(f"/api/deals/{deal_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _section(page: Page, heading: str) -> Any:
    return page.get_by_role("region", name=heading, exact=True)


def test_the_pipeline_board_shows_every_stage_with_its_count_and_total(
    ui_stack: UiStack, page_as: Callable[..., Page], snap: Snap
) -> None:
    mine = _create_deal(ui_stack, name=_unique("Harbor Point"), purchase_price=12_345_678_90)
    with ui_stack.api("gp") as gp:
        intake = gp.get("/api/deals", params={"stage": "intake", "limit": 200}).json()["items"]
    total = sum(d["purchase_price"] or 0 for d in intake)
    page = page_as("gp")
    page.goto("/deals")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pipeline")
    board = page.get_by_role("region", name="Deals by stage")
    for stage in ("Intake", "Underwriting", "IC review", "LOI", "PSA", "Due diligence", "Closing", "On hold", "Dead"):
        expect(board.get_by_role("heading", name=stage, exact=True)).to_be_visible()
    column = board.get_by_role("region", name="Intake", exact=True)
    expect(column).to_contain_text(f"{len(intake)} deals")
    expect(column).to_contain_text(f"${total // 100:,}.{total % 100:02d}")
    # The demo deals are spread over the board.
    expect(
        board.get_by_role("region", name="IC review", exact=True).get_by_role("link", name="One Cascade Plaza")
    ).to_be_visible()
    expect(page.get_by_role("link", name="New deal")).to_be_visible()
    assert_accessible(page)
    snap(page, "pipeline")
    column.get_by_role("link", name=mine["name"]).click()
    expect(page).to_have_url(f"{ui_stack.url}/deals/{mine['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(mine["name"])


def test_search_and_filters_narrow_the_board_and_the_table(ui_stack: UiStack, page_as: Callable[..., Page]) -> None:
    token = uuid.uuid4().hex[:8]
    office = _create_deal(ui_stack, name=f"Filter Office {token}", asset_class="office", purchase_price=500_000_00)
    retail = _create_deal(ui_stack, name=f"Filter Retail {token}", asset_class="retail", purchase_price=900_000_00)
    page = page_as("analyst")
    page.goto("/deals")
    page.get_by_label("Search").fill(token)
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("link", name=office["name"])).to_be_visible()
    expect(page.get_by_role("link", name=retail["name"])).to_be_visible()
    expect(page.get_by_role("link", name="One Cascade Plaza")).to_have_count(0)

    page.get_by_label("Asset class").select_option(label="Retail")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("link", name=retail["name"])).to_be_visible()
    expect(page.get_by_role("link", name=office["name"])).to_have_count(0)

    page.get_by_role("link", name="Table").click()
    table = page.get_by_role("table")
    expect(table.get_by_role("link")).to_have_count(1)
    expect(table.get_by_role("link", name=retail["name"])).to_be_visible()
    expect(table).to_contain_text("$900,000.00")
    expect(table.get_by_role("row", name=re.compile("Total purchase price"))).to_contain_text("$900,000.00")
    assert_accessible(page)

    page.get_by_label("Asset class").select_option(label="All asset classes")
    page.get_by_label("Sort by").select_option(label="Purchase price (highest first)")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"view=table"))
    expect(table.get_by_role("link")).to_have_count(2)
    names = table.get_by_role("link").all_inner_texts()
    assert names == [retail["name"], office["name"]]

    page.get_by_label("Stage").select_option(label="Underwriting")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("cell", name="No deals match.")).to_be_visible()


def test_a_new_deal_made_through_the_form_appears_and_opens_its_page(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    name = _unique("Copper Ridge Apartments")
    page = page_as("gp")
    page.goto("/deals")
    page.get_by_role("link", name="New deal").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New deal")
    assert_accessible(page)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Asset class").select_option(label="Multifamily")
    page.get_by_label("Purchase price").fill("18,250,000.50")
    page.get_by_label("Units").fill("212")
    page.get_by_label("City").fill("Boise")
    page.get_by_role("button", name="Create deal").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_role("status")).to_have_text("The deal was created.")
    overview = _section(page, "Overview")
    expect(overview).to_contain_text("$18,250,000.50")
    expect(overview).to_contain_text("Multifamily")
    deal_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    deal = _deal(ui_stack, deal_id)
    assert (deal["purchase_price"], deal["units"], deal["address"]["city"]) == (1_825_000_050, 212, "Boise")
    page.goto("/deals")
    page.get_by_role("region", name="Intake", exact=True).get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_a_new_deal_without_a_name_shows_the_message_by_the_name_and_creates_nothing(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    city = f"Nowhere{uuid.uuid4().hex[:8]}"
    page = page_as("analyst")
    page.goto("/deals/new")
    page.get_by_label("Asset class").select_option(label="Industrial")
    page.get_by_label("City").fill(city)
    page.get_by_label("Purchase price").fill("1,2,3")
    with page.expect_response(lambda r: r.url.endswith("/deals/new") and r.request.method == "POST") as posted:
        page.get_by_role("button", name="Create deal").click()
    assert posted.value.status == 422
    name = page.get_by_label("Name")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_accessible_description(re.compile("Enter the deal's name."))
    expect(page.get_by_label("Purchase price")).to_have_accessible_description(re.compile("Enter an amount in digits"))
    expect(page.get_by_label("City")).to_have_value(city)
    expect(page.get_by_role("alert")).to_contain_text(request_id_in_footer(page))
    with ui_stack.api("gp") as gp:
        assert gp.get("/api/deals", params={"q": city}).json()["items"] == []


def test_saving_over_someone_elses_change_shows_the_conflict_plainly(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    deal = _create_deal(ui_stack, purchase_price=10_000_000_00)
    page = page_as("analyst")
    page.goto(f"/deals/{deal['id']}")
    overview = _section(page, "Overview")
    renamed = _unique("Renamed Tower")
    with ui_stack.api("gp") as gp:
        changed = gp.patch(f"/api/deals/{deal['id']}", json={"name": renamed, "version": deal["version"]})
    assert changed.status_code == 200, changed.text
    overview.get_by_label("Purchase price").fill("11,500,000")
    with page.expect_response(lambda r: r.url.endswith("/edit")) as posted:
        overview.get_by_role("button", name="Save changes").click()
    assert posted.value.status == 409
    alert = overview.get_by_role("alert")
    expect(alert).to_contain_text("Someone else changed this deal since you opened it")
    expect(alert).to_contain_text(f"now {renamed}")
    # The form is on the fresh version: their new name, and the price the analyst typed.
    expect(overview.get_by_label("Name")).to_have_value(renamed)
    expect(overview.get_by_label("Purchase price")).to_have_value("11,500,000")
    overview.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text("Your changes were saved.")
    saved = _deal(ui_stack, deal["id"])
    assert (saved["name"], saved["purchase_price"]) == (renamed, 11_500_000_00)


def test_next_steps_walk_a_fresh_deal_through_its_gates_to_loi(ui_stack: UiStack, page_as: Callable[..., Page]) -> None:
    deal = _create_deal(ui_stack)
    page = page_as("gp")
    page.goto(f"/deals/{deal['id']}")
    steps = _section(page, "Next steps")
    expect(steps.get_by_role("heading", name="To Underwriting")).to_be_visible()
    expect(steps).to_contain_text("Provide the current rent roll, attested by a person.")
    expect(steps).to_contain_text("Provide the trailing-twelve-month operating statement (T-12), attested by a person.")
    # The link names the type, so the Materials form comes with it chosen.
    expect(steps.get_by_role("link", name="Add rent roll")).to_have_attribute(
        "href", f"/deals/{deal['id']}?material_type=rent_roll#materials"
    )
    expect(steps.get_by_role("button", name="Move to Underwriting")).to_have_count(0)
    # Pausing needs only a reason, given in the form.
    expect(steps.get_by_role("button", name="Move to On hold")).to_be_visible()

    with ui_stack.api("gp") as gp:
        supply_material(gp, deal["id"], "rent_roll", "HUMAN")
        supply_material(gp, deal["id"], "t12", "HUMAN")
    page.reload()
    steps.get_by_role("button", name="Move to Underwriting").click()
    expect(page.get_by_role("status")).to_have_text("The deal moved to its new stage.")
    expect(_section(page, "Overview")).to_contain_text("Underwriting")

    expect(steps).to_contain_text("Set the deal's purchase price.")
    expect(steps.get_by_role("button", name="Move to IC review")).to_have_count(0)
    steps.get_by_role("link", name="Edit deal").click()
    _section(page, "Overview").get_by_label("Purchase price").fill("31,000,000")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text("Your changes were saved.")
    with ui_stack.api("gp") as gp:
        supply_material(gp, deal["id"], "underwriting_summary", "HUMAN")
    page.reload()
    steps.get_by_role("button", name="Move to IC review").click()
    expect(page.get_by_role("status")).to_have_text("The deal moved to its new stage.")

    with ui_stack.api("gp") as gp:
        quorum = gp.get("/api/org/settings").json()["ic_quorum"]
    expect(steps).to_contain_text(f"Get {quorum} approvals from distinct people (admin or gp).")
    expect(steps.get_by_role("link", name="Add IC memo")).to_be_visible()
    with ui_stack.api("gp") as gp:
        supply_material(gp, deal["id"], "ic_memo", "HUMAN")
    page.reload()
    steps.get_by_label("Comment (optional)").first.fill("Basis is right for the submarket.")
    steps.get_by_role("button", name="Approve move to LOI").click()
    expect(page.get_by_role("status")).to_have_text("Your approval was recorded.")
    expect(steps).to_contain_text("You approved this move.")
    expect(steps.get_by_role("button", name="Move to LOI")).to_have_count(0)

    admin = page_as("admin")
    admin.goto(f"/deals/{deal['id']}")
    _section(admin, "Next steps").get_by_role("button", name="Approve move to LOI").click()
    expect(admin.get_by_role("status")).to_have_text("Your approval was recorded.")
    # Any quorum above the two demo leaders is met by more gps (setup, through the API).
    with ui_stack.api("admin") as admin_api:
        for _ in range(quorum - 2):
            email = f"gp-{uuid.uuid4().hex[:8]}@example.test"
            made = admin_api.post("/api/users", json={"email": email, "role": "gp", "password": TEST_PASSWORD})
            assert made.status_code == 201, made.text
            with ui_stack.stack.client(login(ui_stack.stack, email, TEST_PASSWORD)) as extra:
                voted = extra.post(f"/api/deals/{deal['id']}/approvals", json={"to": "loi", "decision": "approve"})
                assert voted.status_code == 201, voted.text

    analyst = page_as("analyst")
    analyst.goto(f"/deals/{deal['id']}")
    expect(_section(analyst, "Next steps").get_by_role("heading", name="To LOI")).to_be_visible()
    expect(_section(analyst, "Next steps").get_by_role("button", name="Move to LOI")).to_have_count(0)

    page.reload()
    approvals = _section(page, "Approvals")
    expect(approvals.get_by_role("row").filter(has_text="Basis is right for the submarket.")).to_contain_text(
        "Approved"
    )
    steps.get_by_role("button", name="Move to LOI").click()
    expect(page.get_by_role("status")).to_have_text("The deal moved to its new stage.")
    assert _deal(ui_stack, deal["id"])["stage"] == "loi"
    history = _section(page, "History")
    expect(history).to_contain_text("Moved from IC review to LOI")
    expect(history).to_contain_text("Created the deal")


def test_you_can_withdraw_your_own_approval(ui_stack: UiStack, page_as: Callable[..., Page]) -> None:
    org = demo_org(ui_stack)
    deal = advance(org, advance(org, _create_deal(ui_stack, purchase_price=2_000_000_00), "underwriting"), "ic_review")
    page = page_as("gp")
    page.goto(f"/deals/{deal['id']}")
    _section(page, "Next steps").get_by_role("button", name="Deny move to LOI").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Your denial was recorded"))
    expect(_section(page, "Next steps")).to_contain_text("Resolve the denial: its author must withdraw it.")
    approvals = _section(page, "Approvals")
    row = approvals.get_by_role("row").filter(has_text="Denied")
    expect(row).to_contain_text("gp@demo.test (you)")
    row.get_by_role("button", name="Withdraw").click()
    expect(page.get_by_role("status")).to_have_text("Your vote was withdrawn.")
    expect(approvals.get_by_role("row").filter(has_text="Denied")).to_contain_text("No: withdrawn")
    expect(approvals.get_by_role("button", name="Withdraw")).to_have_count(0)
    expect(_section(page, "Next steps")).not_to_contain_text("Resolve the denial")


def test_the_evidence_pack_link_is_for_the_roles_that_may_download_it(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    deal = _create_deal(ui_stack)
    analyst = page_as("analyst")
    analyst.goto(f"/deals/{deal['id']}")
    expect(analyst.get_by_role("heading", level=1)).to_have_text(deal["name"])
    expect(analyst.get_by_role("link", name="Evidence pack")).to_have_count(0)
    gp = page_as("gp")
    gp.goto(f"/deals/{deal['id']}")
    with gp.expect_download() as downloading:
        gp.get_by_role("link", name="Evidence pack").click()
    path = downloading.value.path()
    with zipfile.ZipFile(BytesIO(path.read_bytes())) as pack:
        assert {"manifest.json", "manifest.sig", "deal.json"} <= set(pack.namelist())


def test_an_lp_opening_the_pipeline_gets_the_403_page(page_as: Callable[..., Page]) -> None:
    page = page_as("lp")
    with page.expect_response(lambda r: r.url.endswith("/deals")) as loaded:
        page.goto("/deals")
    assert loaded.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")


def test_another_orgs_deal_and_a_missing_one_are_the_404_page(ui_stack: UiStack, page_as: Callable[..., Page]) -> None:
    # Playwright's sync API holds this thread's event loop; the org is made on another thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        other = pool.submit(new_org, ui_stack.stack).result()
    with other.client("admin") as admin:
        theirs = admin.post("/api/deals", json={"name": "Their Tower", "asset_class": "office"})
    assert theirs.status_code == 201, theirs.text
    page = page_as("gp")
    for deal_id in (theirs.json()["id"], "no-such-deal"):
        with page.expect_response(lambda r, deal_id=deal_id: r.url.endswith(f"/deals/{deal_id}")) as loaded:
            page.goto(f"/deals/{deal_id}")
        assert loaded.value.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
        expect(page.get_by_text("Their Tower")).to_have_count(0)


def test_a_snapshot_as_of_a_past_instant_shows_the_stage_then(ui_stack: UiStack, page_as: Callable[..., Page]) -> None:
    org = demo_org(ui_stack)
    deal = _create_deal(ui_stack)
    moved = advance(org, deal, "underwriting")
    created = datetime.fromisoformat(deal["created_at"].replace("Z", "+00:00"))
    left = datetime.fromisoformat(moved["updated_at"].replace("Z", "+00:00"))
    between = created + (left - created) / 2
    between = between.replace(microsecond=between.microsecond // 1000 * 1000) + timedelta(milliseconds=1)
    assert created < between < left
    page = page_as("auditor")
    page.goto(f"/deals/{deal['id']}")
    expect(_section(page, "Overview")).to_contain_text("Underwriting")
    snapshot = _section(page, "Snapshot")
    expect(snapshot).to_contain_text("UTC")
    snapshot.get_by_label("As of").fill(between.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds"))
    snapshot.get_by_role("button", name="Show snapshot").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{deal['name']} as of")
    stage = _section(page, "Stage")
    expect(stage).to_contain_text("Intake")
    expect(stage).not_to_contain_text("Underwriting")
    expect(_section(page, "Gates").get_by_role("heading", name="To Underwriting")).to_be_visible()
    assert_accessible(page)
    # Before the deal existed: the message by the field, not an error page.
    page.get_by_label("As of").fill("2001-01-01T00:00")
    page.get_by_role("button", name="Show snapshot").click()
    expect(page.get_by_label("As of")).to_have_attribute("aria-invalid", "true")


def test_the_deal_page_is_accessible(ui_stack: UiStack, page_as: Callable[..., Page], snap: Snap) -> None:
    with ui_stack.api("gp") as gp:
        found = gp.get("/api/deals", params={"q": "One Cascade Plaza"}).json()["items"]
    assert found, "the demo deal One Cascade Plaza"
    page = page_as("gp")
    page.goto(f"/deals/{found[0]['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("One Cascade Plaza")
    for heading in (
        "Overview",
        "Next steps",
        "Approvals",
        "History",
        "Snapshot",
        "Materials",
        "Documents",
        "Checklist",
        "Parties",
    ):
        expect(page.get_by_role("heading", level=2, name=heading, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Evidence pack")).to_be_visible()
    assert_accessible(page)
    snap(page, "deal")

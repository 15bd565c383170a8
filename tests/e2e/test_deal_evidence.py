"""The deal page's evidence sections in the browser: documents (upload, SHA-256, download, refusals),
materials (HUMAN and DOC from the form), the diligence checklist (done, waived with a reason,
overdue in words), parties and overrides, and who sees which forms.

Deals are created through the API with unique names (setup the tests are not about); everything
a test is about is done in the browser, and checked in the page and through the API."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from cornerstone.kit.service_auth import mint_service_token
from cornerstone.ops.demo_evidence import demo_document
from tests.e2e.support import UiStack, assert_accessible, demo_org
from tests.support import advance, create_deal

ITEM_TITLE = "Phase I environmental site assessment (ASTM E1527-21)"
WAIVE_TITLE = "ALTA/NSPS land title survey"
LATE_TITLE = "Zoning report (use, parking, setbacks, nonconformities)"


def new_deal(ui_stack: UiStack, *stages: str, asset_class: str = "other") -> dict[str, Any]:
    """A deal of its own for one test, walked through ``stages`` by the API as the gates ask."""
    with ui_stack.api("gp") as gp:
        deal = create_deal(gp, name=f"Evidence {uuid.uuid4().hex[:8]}", asset_class=asset_class)
    org = demo_org(ui_stack)
    for stage in stages:
        deal = advance(org, deal, stage)
    return deal


def deal_page(page: Page, deal: Mapping[str, Any]) -> Page:
    page.goto(f"/deals/{deal['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(str(deal["name"]))
    return page


def section(page: Page, name: str) -> Locator:
    return page.get_by_role("region", name=name)


def checklist_item(page: Page, title: str) -> Locator:
    """One diligence item's entry: its heading, facts and form (named by the item's title)."""
    return (
        section(page, "Checklist")
        .get_by_role("listitem")
        .filter(has=page.get_by_role("heading", name=title, exact=True))
    )


def item_form(page: Page, title: str) -> Locator:
    """The item's entry with its update form open: the form is in a disclosure, closed until its
    summary ("Update <the item's title>") is clicked (and open while the item shows a problem)."""
    item = checklist_item(page, title)
    summary = item.get_by_text(f"Update {title}", exact=True)
    expect(summary).to_be_visible()
    if not item.get_by_role("button", name="Update item").is_visible():
        summary.click()
    expect(item.get_by_role("button", name="Update item")).to_be_visible()
    return item


def upload(page: Page, filename: str, data: bytes, mime: str = "application/pdf") -> None:
    documents = section(page, "Documents")
    documents.get_by_label("Upload document").set_input_files({"name": filename, "mimeType": mime, "buffer": data})
    documents.get_by_role("button", name="Upload", exact=True).click()


@pytest.fixture
def artifacts_of(ui_stack: UiStack) -> Iterator[Callable[[str], list[dict[str, Any]]]]:
    with ui_stack.api("admin") as admin:

        def read(deal_id: str) -> list[dict[str, Any]]:
            answer = admin.get(f"/api/deals/{deal_id}/artifacts")
            assert answer.status_code == 200, answer.text
            return list(answer.json()["items"])

        yield read


def test_an_uploaded_pdf_is_listed_with_its_sha256_and_downloads_the_same_bytes(
    ui_stack: UiStack,
    page_as: Callable[..., Page],
    artifacts_of: Callable[[str], list[dict[str, Any]]],
    snap: Callable[[Page, str], None],
) -> None:
    deal = new_deal(ui_stack)
    data = demo_document("Executed LOI", deal["id"])
    page = deal_page(page_as("gp"), deal)
    upload(page, "executed-loi.pdf", data)
    expect(page.get_by_role("status")).to_contain_text("uploaded")
    row = section(page, "Documents").get_by_role("row").filter(has_text="executed-loi.pdf")
    digest = hashlib.sha256(data).hexdigest()
    expect(row.locator("code")).to_have_text(digest)
    expect(row).to_contain_text("application/pdf")
    with page.expect_download() as downloaded:
        row.get_by_role("link", name="Download").click()
    path = downloaded.value.path()
    assert path is not None
    with open(path, "rb") as saved:
        assert saved.read() == data
    stored = artifacts_of(deal["id"])
    assert [(a["filename"], a["sha256"], a["size"]) for a in stored] == [("executed-loi.pdf", digest, len(data))]
    section(page, "Documents").scroll_into_view_if_needed()
    snap(page, "deal-documents")


def test_a_file_of_a_type_not_accepted_is_refused_in_plain_words_and_nothing_is_stored(
    ui_stack: UiStack, page_as: Callable[..., Page], artifacts_of: Callable[[str], list[dict[str, Any]]]
) -> None:
    deal = new_deal(ui_stack)
    page = deal_page(page_as("analyst"), deal)
    with page.expect_response(lambda r: r.url.endswith("/documents") and r.request.method == "POST") as posted:
        upload(page, "setup.exe", b"MZ\x90\x00" + os.urandom(2048), "application/x-msdownload")
    assert posted.value.status == 415
    documents = section(page, "Documents")
    expect(documents.get_by_role("alert")).to_contain_text("This file type is not accepted: setup.exe")
    expect(documents.get_by_label("Upload document")).to_have_attribute("aria-invalid", "true")
    assert artifacts_of(deal["id"]) == []
    # An empty file is refused before it reaches the API, in words too.
    with page.expect_response(lambda r: r.url.endswith("/documents") and r.request.method == "POST") as posted:
        upload(page, "empty.pdf", b"")
    assert posted.value.status == 422
    expect(section(page, "Documents").get_by_role("alert")).to_contain_text("This file is empty: empty.pdf")
    assert artifacts_of(deal["id"]) == []


def test_human_and_doc_materials_are_added_from_the_form(ui_stack: UiStack, page_as: Callable[..., Page]) -> None:
    deal = new_deal(ui_stack)
    page = deal_page(page_as("gp"), deal)
    # A next step's link names the material it asks for: the form comes with it chosen.
    section(page, "Next steps").get_by_role("link", name="Add T-12").click()
    expect(page).to_have_url(re.compile(r"\?material_type=t12#materials$"))
    materials = section(page, "Materials")
    expect(materials.get_by_label("Material type")).to_have_value("t12")
    expect(materials.get_by_label("Truth class")).to_have_value("HUMAN")
    materials.get_by_label("Material type").select_option("rent_roll")
    materials.get_by_label("Truth class").select_option("HUMAN")
    materials.get_by_label("Details").fill("Occupancy 94% as of 30 September; seller-certified.")
    materials.get_by_role("button", name="Add material").click()
    expect(page.get_by_role("status")).to_contain_text("material")
    row = section(page, "Materials").get_by_role("row").filter(has_text="Rent roll")
    expect(row).to_contain_text("HUMAN")
    expect(row).to_contain_text("Occupancy 94% as of 30 September; seller-certified.")
    expect(row).to_contain_text("gp@demo.test (you)")

    # DOC needs a document: refused next to the Document field until one is chosen.
    materials = section(page, "Materials")
    materials.get_by_label("Material type").select_option("__other")
    materials.get_by_label("Other type").fill("Appraisal report")
    materials.get_by_label("Truth class").select_option("DOC")
    materials.get_by_label("Document").select_option("")
    with page.expect_response(lambda r: r.url.endswith("/materials") and r.request.method == "POST") as posted:
        materials.get_by_role("button", name="Add material").click()
    assert posted.value.status == 422
    materials = section(page, "Materials")
    expect(materials.get_by_role("alert")).to_contain_text("A DOC material needs a document")
    expect(materials.get_by_label("Document")).to_have_attribute("aria-invalid", "true")
    expect(materials.get_by_label("Other type")).to_have_value("Appraisal report")

    data = demo_document("Appraisal", deal["id"])
    upload(page, "appraisal.pdf", data)
    expect(page.get_by_role("status")).to_contain_text("uploaded")
    materials = section(page, "Materials")
    materials.get_by_label("Material type").select_option("__other")
    materials.get_by_label("Other type").fill("Appraisal report")
    materials.get_by_label("Truth class").select_option("DOC")
    document = materials.get_by_label("Document")
    document.select_option(document.get_by_role("option", name="appraisal.pdf").get_attribute("value"))
    materials.get_by_role("button", name="Add material").click()
    expect(page.get_by_role("status")).to_contain_text("material")
    row = section(page, "Materials").get_by_role("row").filter(has_text="Appraisal report")
    expect(row).to_contain_text("DOC")
    expect(row.get_by_role("link", name="appraisal.pdf")).to_be_visible()
    with ui_stack.api("gp") as gp:
        stored = {m["type"]: m for m in gp.get(f"/api/deals/{deal['id']}/materials").json()["items"]}
    assert stored["rent_roll"]["truth_class"] == "HUMAN"
    assert stored["rent_roll"]["data"] == {"note": "Occupancy 94% as of 30 September; seller-certified."}
    assert stored["appraisal_report"]["truth_class"] == "DOC"
    assert stored["appraisal_report"]["artifact_sha256"] == hashlib.sha256(data).hexdigest()


def test_an_ai_extracted_material_is_verified_by_a_person_and_then_counts(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    deal = new_deal(ui_stack)
    org = demo_org(ui_stack)
    with ui_stack.api("analyst") as analyst:
        analyst_id = analyst.get("/api/me").json()["id"]
    # Setup as the AI module writes it (no client of the public API may claim AI): the module's
    # own kernel credential, as tests/integration/test_deal_gates.py does.
    token = mint_service_token(
        ui_stack.stack.env["CORNERSTONE_SERVICE_KEY"],
        org_id=org.org_id,
        actor_id=analyst_id,
        actor_role="analyst",
        service="ai",
    )
    extracted = httpx.post(
        f"{ui_stack.stack.kernel.url}/kernel/v1/orgs/{org.org_id}/deals/{deal['id']}/materials",
        json={"type": "rent_roll", "truth_class": "AI", "data": {"occupancy": "91%"}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert extracted.status_code == 201, extracted.text

    page = deal_page(page_as("analyst"), deal)
    row = section(page, "Materials").get_by_role("row").filter(has_text="Rent roll")
    expect(row).to_contain_text("AI")
    expect(row).to_contain_text("Not verified")
    row.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("status")).to_contain_text("verified")
    row = section(page, "Materials").get_by_role("row").filter(has_text="Rent roll")
    expect(row).to_contain_text("HUMAN")
    expect(row).to_contain_text("analyst@demo.test (you)")
    expect(row.get_by_role("button", name="Verify")).to_have_count(0)
    with ui_stack.api("analyst") as analyst:
        (material,) = analyst.get(f"/api/deals/{deal['id']}/materials").json()["items"]
    assert (material["truth_class"], material["verified_by"], material["revision"]) == ("HUMAN", analyst_id, 2)


def test_checklist_items_are_marked_done_and_waived_only_with_a_reason(
    ui_stack: UiStack, page_as: Callable[..., Page], snap: Callable[[Page, str], None]
) -> None:
    deal = new_deal(ui_stack, "underwriting", "ic_review", "loi", "psa")
    page = deal_page(page_as("gp"), deal)

    item = checklist_item(page, ITEM_TITLE)
    expect(item.get_by_text("Status: Open")).to_be_visible()
    # Each item's form is closed until asked for, so the checklist reads as a list.
    expect(item.get_by_role("button", name="Update item")).to_be_hidden()
    expect(section(page, "Checklist").get_by_role("button", name="Update item")).to_have_count(0)
    item = item_form(page, ITEM_TITLE)
    item.get_by_label("Status").select_option("done")
    item.get_by_role("button", name="Update item").click()
    expect(page.get_by_role("status")).to_contain_text("checklist")
    expect(checklist_item(page, ITEM_TITLE).get_by_text("Status: Done")).to_be_visible()

    item = item_form(page, WAIVE_TITLE)
    item.get_by_label("Status").select_option("waived")
    item.get_by_label("Reason").fill("")
    with page.expect_response(lambda r: "/checklist/" in r.url and r.request.method == "POST") as posted:
        item.get_by_role("button", name="Update item").click()
    assert posted.value.status == 422
    # The refusal comes back at the Checklist, with the refused item's form open on its message.
    expect(page).to_have_url(re.compile(r"#checklist$"))
    item = checklist_item(page, WAIVE_TITLE)
    expect(item.get_by_text("Give a reason to waive this item.", exact=True)).to_be_visible()
    expect(item.get_by_role("alert")).to_be_visible()
    expect(item.get_by_role("button", name="Update item")).to_be_visible()
    expect(item.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    expect(item.get_by_label("Status")).to_have_value("waived")
    item.get_by_label("Reason").fill("Seller's 2025 ALTA survey accepted by the lender.")
    item.get_by_role("button", name="Update item").click()
    expect(page.get_by_role("status")).to_contain_text("checklist")
    item = checklist_item(page, WAIVE_TITLE)
    expect(item.get_by_text("Status: Waived")).to_be_visible()
    expect(item).to_contain_text("Seller's 2025 ALTA survey accepted by the lender.")

    with ui_stack.api("gp") as gp:
        items = {i["title"]: i for i in gp.get(f"/api/deals/{deal['id']}/checklist").json()["items"]}
    assert items[ITEM_TITLE]["status"] == "done"
    assert items[WAIVE_TITLE]["status"] == "waived"
    assert items[WAIVE_TITLE]["reason"] == "Seller's 2025 ALTA survey accepted by the lender."
    section(page, "Checklist").scroll_into_view_if_needed()
    snap(page, "deal-checklist")


def test_an_item_past_its_due_date_says_overdue_until_it_is_done(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    deal = new_deal(ui_stack, "underwriting", "ic_review", "loi", "psa")
    page = deal_page(page_as("analyst"), deal)
    item = checklist_item(page, LATE_TITLE)
    expect(item.get_by_text("Overdue", exact=True)).to_have_count(0)
    item = item_form(page, LATE_TITLE)
    item.get_by_label("Due date").fill("2020-03-31")
    item.get_by_role("button", name="Update item").click()
    item = checklist_item(page, LATE_TITLE)
    expect(item.get_by_text("Overdue", exact=True)).to_be_visible()
    expect(item).to_contain_text("2020-03-31")
    expect(section(page, "Checklist")).to_contain_text("1 overdue")
    item = item_form(page, LATE_TITLE)
    item.get_by_label("Status").select_option("done")
    item.get_by_role("button", name="Update item").click()
    item = checklist_item(page, LATE_TITLE)
    expect(item.get_by_text("Status: Done")).to_be_visible()
    expect(item.get_by_text("Overdue", exact=True)).to_have_count(0)


def test_an_admin_adds_an_external_user_as_a_party_and_a_gp_gives_a_user_id(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    deal = new_deal(ui_stack)
    email = f"counsel-{uuid.uuid4().hex[:8]}@demo.test"
    with ui_stack.api("admin") as admin:
        created = admin.post("/api/users", json={"email": email, "role": "external", "password": "counsel-pass-1234"})
        assert created.status_code == 201, created.text
        counsel_id = created.json()["id"]
    page = deal_page(page_as("admin"), deal)
    parties = section(page, "Parties")
    parties.get_by_label("Party user").select_option(label=email)
    parties.get_by_label("Deal role").select_option("counsel")
    parties.get_by_role("button", name="Add party").click()
    expect(page.get_by_role("status")).to_contain_text("part")
    row = section(page, "Parties").get_by_role("row").filter(has_text=email)
    expect(row).to_contain_text("Counsel")

    # A gp cannot list the org's users (the API's rule): the form asks for the user's id instead.
    page = deal_page(page_as("gp"), deal)
    parties = section(page, "Parties")
    expect(parties.get_by_role("textbox", name="Party user")).to_be_visible()
    parties.get_by_label("Party user").fill("no-such-user")
    parties.get_by_label("Deal role").select_option("escrow")
    with page.expect_response(lambda r: r.url.endswith("/parties") and r.request.method == "POST") as posted:
        parties.get_by_role("button", name="Add party").click()
    assert posted.value.status == 422
    expect(section(page, "Parties").get_by_role("alert")).to_contain_text("not an active external user")
    with ui_stack.api("gp") as gp:
        listed = gp.get(f"/api/deals/{deal['id']}/parties").json()["items"]
    assert [(p["user_id"], p["deal_role"]) for p in listed] == [(counsel_id, "counsel")]


def test_an_admin_records_an_override_that_the_next_move_uses(ui_stack: UiStack, page_as: Callable[..., Page]) -> None:
    deal = new_deal(ui_stack)
    page = deal_page(page_as("admin"), deal)
    overrides = section(page, "Overrides")
    overrides.get_by_label("Edge").select_option("underwriting")
    overrides.get_by_label("Attestation").fill("Too short")
    overrides.get_by_role("button", name="Record override").click()
    # The refusal comes back at the Overrides section (far down the page), its message in view.
    expect(page).to_have_url(re.compile(r"/overrides#overrides$"))
    overrides = section(page, "Overrides")
    expect(overrides.get_by_role("alert")).to_contain_text("at least 20 characters")
    expect(overrides.get_by_role("alert")).to_be_in_viewport()
    overrides.get_by_label("Attestation").fill(
        "Rent roll and T-12 reviewed in the data room by the IC chair; formal upload follows."
    )
    overrides.get_by_role("button", name="Record override").click()
    expect(page.get_by_role("status")).to_contain_text("override")
    row = section(page, "Overrides").get_by_role("row").filter(has_text="Intake to Underwriting")
    expect(row).to_contain_text("Not used")
    expect(row).to_contain_text("admin@demo.test (you)")

    page.get_by_role("button", name="Move to Underwriting").click()
    with ui_stack.api("admin") as admin:
        assert admin.get(f"/api/deals/{deal['id']}").json()["stage"] == "underwriting"
    row = section(page, "Overrides").get_by_role("row").filter(has_text="Intake to Underwriting")
    expect(row.get_by_text("Used", exact=True)).to_be_visible()

    # The deal team sees the list; only an admin has the form.
    page = deal_page(page_as("gp"), deal)
    expect(section(page, "Overrides").get_by_role("row").filter(has_text="Intake to Underwriting")).to_be_visible()
    expect(page.get_by_role("button", name="Record override")).to_have_count(0)


def test_an_auditor_reads_the_evidence_but_is_offered_no_form(ui_stack: UiStack, page_as: Callable[..., Page]) -> None:
    deal = new_deal(ui_stack, "underwriting", "ic_review", "loi", "psa")
    page = deal_page(page_as("auditor"), deal)
    for name in ("Materials", "Documents", "Checklist", "Parties", "Overrides"):
        expect(section(page, name)).to_be_visible()
    expect(section(page, "Documents").get_by_role("link", name="Download").first).to_be_visible()
    expect(section(page, "Checklist").get_by_role("heading", name=ITEM_TITLE)).to_be_visible()
    for button in ("Upload", "Add material", "Update item", "Add party", "Record override", "Verify"):
        expect(page.get_by_role("button", name=button, exact=True)).to_have_count(0)
    # Not even a closed one: no item offers its update form.
    expect(section(page, "Checklist").get_by_text(f"Update {ITEM_TITLE}")).to_have_count(0)
    expect(section(page, "Checklist").get_by_role("button", name="Update item", include_hidden=True)).to_have_count(0)


def test_a_deal_page_with_every_section_filled_is_accessible(ui_stack: UiStack, page_as: Callable[..., Page]) -> None:
    deal = new_deal(ui_stack, "underwriting", "ic_review", "loi", "psa", "due_diligence")
    demo_org(ui_stack).lender(deal["id"])
    page = deal_page(page_as("admin"), deal)
    for name in ("Materials", "Documents", "Parties"):
        expect(section(page, name).get_by_role("row").nth(1)).to_be_visible()
    expect(checklist_item(page, ITEM_TITLE)).to_be_visible()
    overrides = section(page, "Overrides")
    overrides.get_by_label("Edge").select_option("financing")
    overrides.get_by_label("Attestation").fill("Diligence items tracked off-platform by outside counsel this week.")
    overrides.get_by_role("button", name="Record override").click()
    expect(section(page, "Overrides").get_by_role("row").filter(has_text="Due diligence to Financing")).to_be_visible()
    late = item_form(page, LATE_TITLE)
    late.get_by_label("Due date").fill("2020-03-31")
    late.get_by_role("button", name="Update item").click()
    expect(checklist_item(page, LATE_TITLE).get_by_text("Overdue", exact=True)).to_be_visible()
    assert_accessible(page)

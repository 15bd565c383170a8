"""The deal pages' forms over a real stack, as a browser posts them (session cookie, CSRF token
and cookie, Origin): what a person can type or a hostile client can send is a message on the
page or the 403/404 page, never a 500; messages are in the person's units; a refused form comes
back at its own section."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import Org, create_deal, walk

MONEY_FIELDS = ("purchase_price", "noi", "loan_amount", "equity_required")


class Browser:
    """A signed-in browser: the session cookie, and the CSRF token of the last page read."""

    def __init__(self, org: Org, token: str) -> None:
        self.client = httpx.Client(
            base_url=org.stack.bff.url,
            cookies={"cs_session": token},
            headers={"Accept": "text/html", "Origin": org.stack.bff.url},
            timeout=60,
            follow_redirects=False,
        )
        self.csrf = ""

    def get(self, path: str, **params: str) -> httpx.Response:
        page = self.client.get(path, params=params or None)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if match:
            self.csrf = match.group(1)
        return page

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        if not self.csrf:
            self.get("/account")
        assert self.client.cookies.get("cs_csrf") == self.csrf
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)


@pytest.fixture
def browser(org: Org) -> Iterator[Browser]:
    signed_in = Browser(org, org.admin_token)
    yield signed_in
    signed_in.client.close()


@pytest.fixture
def auditor(org: Org) -> Iterator[Browser]:
    signed_in = Browser(org, org.token("auditor"))
    yield signed_in
    signed_in.client.close()


def _h1(page: httpx.Response) -> str:
    match = re.search(r"<h1>(.*?)</h1>", page.text, re.S)
    assert match, page.text[:2000]
    return html.unescape(match.group(1)).strip()


def _section(page: httpx.Response, section_id: str) -> str:
    """The HTML of the deal page's section ``section_id`` (up to the next section)."""
    start = page.text.index(f'id="{section_id}"')
    end = page.text.find("<section", start)
    return page.text[start : end if end != -1 else len(page.text)]


def _field_error(page: httpx.Response, field_id: str) -> str:
    match = re.search(rf'<span class="error" id="{re.escape(field_id)}-error">(.*?)</span>', page.text, re.S)
    assert match, f"no message by {field_id}: {page.text[:3000]}"
    return html.unescape(match.group(1))


def _edit_form(deal: dict[str, Any], **changes: str) -> dict[str, str]:
    return {
        "version": str(deal["version"]),
        "currency": str(deal["currency"]),
        "name": str(deal["name"]),
        "asset_class": str(deal["asset_class"]),
        **changes,
    }


# --- snapshots -----------------------------------------------------------------------------------


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_an_instant_past_either_end_of_the_calendar_is_a_message_by_as_of(org: Org, browser: Browser, at: str) -> None:
    with org.client() as admin:
        deal = create_deal(admin)
    page = browser.get(f"/deals/{deal['id']}/snapshot", at=at)
    assert page.status_code == 422, page.text[:2000]
    assert _field_error(page, "snapshot-at") == "Enter a date and time, like 2026-05-01 14:30."
    assert 'aria-invalid="true"' in page.text


# --- the edit form's hidden original values ------------------------------------------------------


@pytest.mark.parametrize(
    "original",
    [
        "[" * 3000 + "]" * 3000,
        '{"name":' + "[" * 2500 + "]" * 2500 + "}",
        '{"name": {"nested": "object"}}',
        '{"name": "x", "is_admin": "yes"}',
        "[1, 2, 3]",
        "42",
        '"a string"',
        "null",
        '{"name": "' + "x" * 7000 + '"}',
        "{not json",
    ],
    ids=["deep-array", "deep-in-object", "nested", "unknown-key", "array", "number", "string", "null", "huge", "bad"],
)
def test_an_unreadable_original_is_ignored_and_the_conflict_is_still_shown(
    org: Org, browser: Browser, original: str
) -> None:
    with org.client() as admin:
        deal = create_deal(admin, name="Original Tower")
        changed = admin.patch(
            f"/api/deals/{deal['id']}", json={"version": deal["version"], "address": {"city": "Denver"}}
        )
        assert changed.status_code == 200, changed.text
    browser.get(f"/deals/{deal['id']}")
    page = browser.post(f"/deals/{deal['id']}/edit", _edit_form(deal, name="Original Tower II", original=original))
    assert page.status_code == 409, page.text[:2000]
    assert "Someone else changed this deal since you opened it." in page.text
    # Without the original values, every difference from the deal as it is now is listed.
    conflict = page.text[page.text.index("What changed, and the values now") :]
    assert "<dt>City</dt>" in conflict
    assert "now Denver" in conflict


def test_a_readable_original_still_tells_whose_change_is_whose(org: Org, browser: Browser) -> None:
    with org.client() as admin:
        deal = create_deal(admin, name="Merge Tower")
    form = browser.get(f"/deals/{deal['id']}")
    original = html.unescape(re.search(r'name="original" value="([^"]*)"', form.text).group(1))  # type: ignore[union-attr]
    with org.client() as admin:
        changed = admin.patch(
            f"/api/deals/{deal['id']}", json={"version": deal["version"], "address": {"city": "Denver"}}
        )
        assert changed.status_code == 200, changed.text
    page = browser.post(f"/deals/{deal['id']}/edit", _edit_form(deal, name="Merge Tower II", original=original))
    assert page.status_code == 409
    # The person changed only the name: the form keeps it and takes the other change.
    assert 'value="Merge Tower II"' in page.text
    assert re.search(r'id="edit-city"[^>]*value="Denver"', page.text)


# --- counts and amounts --------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["1,,,0", "12,5", ",125", "125,", "1,2345", "12,500,00", "1 000", "１２"])
def test_a_count_with_commas_out_of_place_is_a_message_by_its_field(org: Org, browser: Browser, typed: str) -> None:
    browser.get("/deals/new")
    page = browser.post(
        "/deals/new",
        {"name": "Count Tower", "asset_class": "office", "currency": "USD", "square_feet": typed, "units": typed},
    )
    assert page.status_code == 422, page.text[:2000]
    assert "whole number" in _field_error(page, "f-square_feet")
    assert "whole number" in _field_error(page, "f-units")
    with org.client() as admin:
        assert admin.get("/api/deals", params={"q": "Count Tower"}).json()["items"] == []


@pytest.mark.parametrize(("typed", "count"), [("12,500", 12500), ("12500", 12500), ("1,234,567", 1234567), ("7", 7)])
def test_a_count_typed_plainly_or_grouped_in_threes_is_taken(
    org: Org, browser: Browser, typed: str, count: int
) -> None:
    browser.get("/deals/new")
    created = browser.post(
        "/deals/new", {"name": "Counted Tower", "asset_class": "office", "currency": "USD", "square_feet": typed}
    )
    assert created.status_code == 303, created.text[:2000]
    deal_id = created.headers["location"].split("/deals/")[1].split("?")[0]
    with org.client() as admin:
        assert admin.get(f"/api/deals/{deal_id}").json()["square_feet"] == count


@pytest.mark.parametrize(
    ("currency", "limit"),
    [("USD", "$10,000,000,000,000.00"), ("EUR", "€10,000,000,000,000.00"), ("JPY", "¥1,000,000,000,000,000")],
)
@pytest.mark.parametrize("field", MONEY_FIELDS)
def test_an_amount_over_the_apis_limit_is_said_in_the_deals_currency(
    browser: Browser, currency: str, limit: str, field: str
) -> None:
    too_much = "1,000,000,000,000,001" if currency == "JPY" else "10,000,000,000,000.01"
    browser.get("/deals/new")
    page = browser.post(
        "/deals/new", {"name": "Big Tower", "asset_class": "office", "currency": currency, field: too_much}
    )
    assert page.status_code == 422, page.text[:2000]
    assert _field_error(page, f"f-{field}") == f"Enter at most {limit}."
    assert "1000000000000000" not in page.text


def test_an_amount_over_the_limit_on_the_edit_form_is_said_in_the_deals_currency(org: Org, browser: Browser) -> None:
    with org.client() as admin:
        deal = create_deal(admin, currency="GBP")
    browser.get(f"/deals/{deal['id']}")
    page = browser.post(f"/deals/{deal['id']}/edit", _edit_form(deal, loan_amount="10,000,000,000,000.01"))
    assert page.status_code == 422, page.text[:2000]
    assert _field_error(page, "edit-loan_amount") == "Enter at most £10,000,000,000,000.00."
    assert "1000000000000000" not in page.text


def test_the_new_deal_forms_amount_hints_name_no_currency_of_their_own(browser: Browser) -> None:
    page = browser.get("/deals/new")
    assert page.status_code == 200
    assert "In USD" not in page.text
    for field in MONEY_FIELDS:
        hint = re.search(rf'id="f-{field}-hint">(.*?)</span>', page.text)
        assert hint, field
        assert html.unescape(hint.group(1)).startswith("In the deal's currency"), field


# --- refusals no form can answer -----------------------------------------------------------------


def test_a_role_the_api_refuses_gets_the_403_page_from_every_deal_form(org: Org, auditor: Browser) -> None:
    with org.client() as admin:
        deal = create_deal(admin)
    base = f"/deals/{deal['id']}"
    posts: list[tuple[str, dict[str, str]]] = [
        ("/deals/new", {"name": "Audited Tower", "asset_class": "office", "currency": "USD"}),
        (f"{base}/edit", _edit_form(deal, name="Renamed by an auditor")),
        (f"{base}/move", {"to": "underwriting", "version": str(deal["version"])}),
        (f"{base}/approvals", {"to": "underwriting", "decision": "approve"}),
        ("/approvals/some-vote/withdraw", {"deal_id": deal["id"]}),
        (f"{base}/materials", {"material_type": "rent_roll", "truth_class": "HUMAN", "details": "seen"}),
        (f"{base}/materials/some-material/verify", {}),
        (f"{base}/checklist/some-item", {"status": "done"}),
        (f"{base}/parties", {"user_id": "someone", "deal_role": "lender"}),
        (f"{base}/overrides", {"to": "underwriting", "attestation": "An auditor should never be able to do this."}),
    ]
    auditor.get(base)
    for path, data in posts:
        page = auditor.post(path, data)
        assert page.status_code == 403, (path, page.text[:2000])
        assert _h1(page) == "Not allowed", path
    upload = auditor.post(f"{base}/documents", files={"file": ("note.txt", b"hello", "text/plain")})
    assert upload.status_code == 403, upload.text[:2000]
    assert _h1(upload) == "Not allowed"
    with org.client() as admin:
        after = admin.get(f"/api/deals/{deal['id']}").json()
        assert (after["name"], after["stage"]) == (deal["name"], "intake")
        assert admin.get("/api/deals", params={"q": "Audited Tower"}).json()["items"] == []


def test_a_document_uploaded_through_the_form_is_stored(org: Org, browser: Browser) -> None:
    with org.client() as admin:
        deal = create_deal(admin)
    browser.get(f"/deals/{deal['id']}")
    uploaded = browser.post(f"/deals/{deal['id']}/documents", files={"file": ("note.txt", b"hello", "text/plain")})
    assert uploaded.status_code == 303, uploaded.text[:3000]
    assert uploaded.headers["location"] == f"/deals/{deal['id']}?notice=document_uploaded#documents"
    with org.client() as admin:
        stored = admin.get(f"/api/deals/{deal['id']}/artifacts").json()["items"]
    assert [(a["filename"], a["size"]) for a in stored] == [("note.txt", 5)]


def test_an_object_the_api_does_not_find_gets_the_404_page(org: Org, browser: Browser) -> None:
    with org.client() as admin:
        deal = create_deal(admin)
    base = f"/deals/{deal['id']}"
    browser.get(base)
    for path, data in [
        ("/approvals/no-such-vote/withdraw", {"deal_id": deal["id"]}),
        (f"{base}/materials/no-such-material/verify", {}),
        (f"{base}/checklist/no-such-item", {"status": "done"}),
    ]:
        page = browser.post(path, data)
        assert page.status_code == 404, (path, page.text[:2000])
        assert _h1(page) == "Page not found", path


# --- where a refused form comes back -------------------------------------------------------------

# Where each deal-page form comes back: the first path part that matches, in this order.
SECTION_OF_FORM = (
    ("/edit", "overview"),
    ("/move", "next-steps"),
    ("/withdraw", "approvals"),
    ("/approvals", "next-steps"),
    ("/verify", "materials"),
    ("/materials", "materials"),
    ("/documents", "documents"),
    ("/checklist/", "checklist"),
    ("/parties", "parties"),
    ("/overrides", "overrides"),
)


def _form_sections(page: httpx.Response) -> set[str]:
    """Every post form of the deal page, checked to post to an address ending in its section's
    id; the sections that had one."""
    seen: set[str] = set()
    for section in re.findall(r'<section aria-labelledby="[^"]+" id="([^"]+)"', page.text):
        for action in re.findall(r'<form method="post" action="([^"]+)"', _section(page, section)):
            path, _, fragment = action.partition("#")
            expected = next(where for part, where in SECTION_OF_FORM if part in path)
            assert fragment == expected == section, action
            seen.add(section)
    return seen


def test_every_deal_page_form_posts_to_its_own_section(org: Org, browser: Browser) -> None:
    with org.client() as admin:
        deal = create_deal(admin, purchase_price=20_000_000_00)
    deal = walk(org, deal, "underwriting", "ic_review")
    with org.client() as admin:
        # A vote of the admin's own, to withdraw under Approvals.
        voted = admin.post(f"/api/deals/{deal['id']}/approvals", json={"to": "loi", "decision": "approve"})
        assert voted.status_code == 201, voted.text
    page = browser.get(f"/deals/{deal['id']}")
    assert page.status_code == 200
    assert _form_sections(page) == {
        "overview",
        "next-steps",
        "approvals",
        "materials",
        "documents",
        "parties",
        "overrides",
    }
    # The gp has the vote form, which comes back at Next steps too.
    gp = Browser(org, org.token("gp"))
    with gp.client:
        page = gp.get(f"/deals/{deal['id']}")
        assert "Approve move to LOI" in page.text
        assert "next-steps" in _form_sections(page)


@pytest.mark.parametrize(
    ("path", "data", "section"),
    [
        ("/edit", {"version": "1", "currency": "USD", "name": "", "asset_class": "office"}, "overview"),
        ("/move", {"to": "nowhere", "version": "1"}, "next-steps"),
        ("/materials", {"material_type": "", "truth_class": "HUMAN"}, "materials"),
        ("/parties", {"user_id": "", "deal_role": "lender"}, "parties"),
        ("/overrides", {"to": "underwriting", "attestation": "short"}, "overrides"),
    ],
)
def test_a_refused_form_shows_its_problem_first_in_its_own_section(
    org: Org, browser: Browser, path: str, data: dict[str, str], section: str
) -> None:
    with org.client() as admin:
        deal = create_deal(admin)
    browser.get(f"/deals/{deal['id']}")
    page = browser.post(f"/deals/{deal['id']}{path}", data)
    assert page.status_code == 422, page.text[:2000]
    alert = re.search(r'<div class="problem" role="alert" id="([^"]+)" tabindex="-1">', _section(page, section))
    assert alert, _section(page, section)[:3000]
    assert alert.group(1) == f"{section}-problem"
    assert page.text.count('role="alert"') == 1


# --- next steps ----------------------------------------------------------------------------------


def test_a_next_steps_material_link_names_the_type_for_the_materials_form(org: Org, browser: Browser) -> None:
    with org.client() as admin:
        deal = create_deal(admin)
    page = browser.get(f"/deals/{deal['id']}")
    steps = _section(page, "next-steps")
    links = {
        html.unescape(text): html.unescape(href)
        for href, text in re.findall(r'<a href="([^"]+)">(Add [^<]+)</a>', steps)
    }
    assert links, steps[:3000]
    for text, href in links.items():
        assert re.fullmatch(rf"/deals/{deal['id']}\?material_type=[a-z0-9_]+#materials", href), (text, href)
    href = links["Add rent roll"]
    chosen = browser.get(href.split("#")[0])
    materials = _section(chosen, "materials")
    assert re.search(r'<option value="rent_roll" selected>', materials), materials[:3000]


# --- the checklist -------------------------------------------------------------------------------


def test_each_checklist_items_form_is_closed_until_opened_and_open_with_its_problem(org: Org, browser: Browser) -> None:
    with org.client() as admin:
        deal = create_deal(admin, purchase_price=20_000_000_00)
    deal = walk(org, deal, "underwriting", "ic_review", "loi", "psa")
    with org.client() as admin:
        items = admin.get(f"/api/deals/{deal['id']}/checklist").json()["items"]
    page = browser.get(f"/deals/{deal['id']}")
    checklist = _section(page, "checklist")
    details = re.findall(r"<details[^>]*>\s*<summary>(.*?)</summary>", checklist, re.S)
    assert len(details) == len(items)
    assert '<details class="check-update" open' not in checklist
    titles = {html.unescape(re.sub(r"<[^>]+>", "", summary)) for summary in details}
    assert titles == {f"Update {item['title']}" for item in items}
    assert checklist.count(">Update item</button>") == len(items)
    assert _form_sections(page) >= {"checklist"}

    item = items[0]
    refused = browser.post(f"/deals/{deal['id']}/checklist/{item['id']}", {"status": "waived", "reason": ""})
    assert refused.status_code == 422
    checklist = _section(refused, "checklist")
    assert checklist.count('<details class="check-update" open>') == 1
    entry = checklist[checklist.index(f'id="checklist-item-{item["id"]}"') :]
    following = entry.find('<li id="checklist-item-')
    entry = entry if following == -1 else entry[:following]
    assert '<details class="check-update" open>' in entry
    assert "Give a reason to waive this item." in entry
    # The section says which item was refused, linked to its problem.
    pointer = re.search(r'<a href="#checklist-problem">(.*?) was not changed: see why</a>', checklist)
    assert pointer, checklist[:3000]
    assert html.unescape(pointer.group(1)) == item["title"]

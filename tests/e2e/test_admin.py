"""The admin pages: users, settings, system status and the audit trail, driven as an admin (and
as the roles the API refuses) would drive them."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import text

from tests.e2e.support import UiStack, assert_accessible, request_id_in_footer
from tests.support import TEST_PASSWORD, append_only_lifted, new_org, sync_engine

STRONG_PASSWORD = "a-long-and-unusual-passphrase-42"


def _email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.test"


def _user_row(page: Page, email: str):  # type: ignore[no-untyped-def]
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=re.compile(re.escape(email))))


def _create_user(page: Page, email: str, role: str, password: str = "") -> None:
    page.goto("/admin/users")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Role", exact=True).select_option(role)
    if password:
        page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Create user").click()


def _expect_forbidden(page: Page, path: str) -> None:
    with page.expect_response(lambda r: r.url.endswith(path) and r.request.method == "GET") as answer:
        page.goto(path)
    assert answer.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")


def test_admin_creates_a_user_changes_their_role_and_deactivating_them_ends_their_session(
    ui_stack: UiStack, page_as: Callable[..., Page], snap: Callable[[Page, str], None]
) -> None:
    admin = page_as("admin")
    email = _email("newcomer")
    _create_user(admin, email, "analyst", STRONG_PASSWORD)
    expect(admin).to_have_url(f"{ui_stack.url}/admin/users?notice=created#main")
    expect(admin.get_by_role("status")).to_have_text("User created.")
    row = _user_row(admin, email)
    expect(row).to_contain_text("Analyst")
    expect(row).to_contain_text("Active")

    # An LP user sees one investor's data: one without an investor is refused beside the role.
    row.get_by_label(f"Role for {email}").select_option("lp")
    row.get_by_role("button", name="Change role").click()
    expect(_user_row(admin, email).get_by_role("alert")).to_contain_text("An LP user needs an investor")
    expect(_user_row(admin, email)).to_contain_text("Analyst")
    row = _user_row(admin, email)
    row.get_by_label(f"Role for {email}").select_option("gp")
    row.get_by_role("button", name="Change role").click()
    expect(admin.get_by_role("status")).to_contain_text("Role changed")
    expect(_user_row(admin, email)).to_contain_text("GP")
    expect(admin.get_by_role("heading", level=1)).to_have_text("Users")
    assert_accessible(admin)
    snap(admin, "admin-users")

    # The user signs in (with the new role), then the admin deactivates them.
    theirs = page_as(email=email, password=STRONG_PASSWORD)
    theirs.goto("/account")
    expect(theirs.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(theirs.get_by_text("GP", exact=True)).to_be_visible()

    _user_row(admin, email).get_by_role("button", name="Deactivate").click()
    expect(admin.get_by_role("status")).to_contain_text("User deactivated")
    expect(_user_row(admin, email)).to_contain_text("Deactivated")
    expect(_user_row(admin, email).get_by_role("button", name="Reactivate")).to_be_visible()

    theirs.goto("/account")
    expect(theirs).to_have_url(re.compile(r"/login\?next=/account&expired=1$"))
    expect(theirs.get_by_role("heading", level=1)).to_have_text("Sign in to Cornerstone")
    with ui_stack.api("admin") as api:
        stored = next(u for u in api.get("/api/users").json()["items"] if u["email"] == email)
    assert (stored["role"], stored["active"]) == ("gp", False)


def test_a_taken_email_a_weak_password_and_an_lp_without_investor_are_named_next_to_their_fields(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    page = page_as("admin")
    with page.expect_response(lambda r: "/admin/users" in r.url and r.request.method == "POST") as posted:
        _create_user(page, "gp@demo.test", "analyst", STRONG_PASSWORD)
    assert posted.value.status == 409
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Email")).to_have_accessible_description(re.compile("already exists"))
    expect(page.get_by_label("Email")).to_have_value("gp@demo.test")

    email = _email("weak")
    with page.expect_response(lambda r: "/admin/users" in r.url and r.request.method == "POST") as posted:
        _create_user(page, email, "analyst", "short")
    assert posted.value.status == 422
    expect(page.get_by_label("Password")).to_have_accessible_description(re.compile("at least 12 characters"))
    expect(page.get_by_label("Email")).not_to_have_attribute("aria-invalid", "true")
    assert_accessible(page)

    _create_user(page, email, "lp", STRONG_PASSWORD)
    expect(page.get_by_label("Investor")).to_have_accessible_description(
        re.compile("Choose the investor this LP user sees")
    )
    with ui_stack.api("admin") as api:
        assert email not in {u["email"] for u in api.get("/api/users").json()["items"]}


def test_the_ic_quorum_is_raised_and_a_lower_value_is_refused_plainly(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    # A fresh org: raising the shared demo org's quorum would change other tests' gates.
    org = new_org(ui_stack.stack)
    page = page_as(email=org.admin_email, password=TEST_PASSWORD)
    page.goto("/admin/settings")
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    expect(page.get_by_text("is only ever raised above the default")).to_be_visible()
    expect(page.get_by_label("IC quorum")).to_have_value("2")
    assert_accessible(page)

    page.get_by_label("IC quorum").fill("3")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Settings saved")
    expect(page.get_by_label("IC quorum")).to_have_value("3")
    expect(page.get_by_text("3 approvals to move a deal")).to_be_visible()

    page.get_by_label("IC quorum").fill("1")
    with page.expect_response(lambda r: r.url.endswith("/admin/settings") and r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save settings").click()
    assert posted.value.status == 422
    expect(page.get_by_label("IC quorum")).to_have_accessible_description(
        re.compile(r"Refused: the IC quorum is only ever raised, never below 2\.")
    )
    expect(page.get_by_role("alert")).to_contain_text("nothing was saved")
    with org.client() as api:
        assert api.get("/api/org/settings").json() == {"ic_quorum": 3}


def test_the_status_page_shows_each_dependency_reachable_with_its_latency(
    page_as: Callable[..., Page], snap: Callable[[Page, str], None]
) -> None:
    page = page_as("admin")
    page.goto("/admin/status")
    expect(page.get_by_role("heading", level=1)).to_have_text("System status")
    dependencies = page.get_by_role("region", name="Dependencies")
    kernel = dependencies.get_by_role("row", name=re.compile("^Kernel"))
    expect(kernel).to_contain_text("Reachable")
    expect(kernel).to_contain_text(re.compile(r"\d+\.\d ms"))
    expect(dependencies.get_by_role("row", name=re.compile("^Database"))).to_contain_text("Reachable")
    expect(dependencies.get_by_role("row", name=re.compile("^Redis"))).to_contain_text("Not configured")
    breaker = page.get_by_role("region", name="Circuit breakers").get_by_role("row", name=re.compile("^Kernel"))
    expect(breaker).to_contain_text("Closed")
    expect(page.get_by_text("Uptime")).to_be_visible()
    assert_accessible(page)
    snap(page, "admin-status")


def test_the_audit_trail_finds_an_action_by_its_request_id_and_verifies_the_chain(
    page_as: Callable[..., Page], snap: Callable[[Page, str], None]
) -> None:
    page = page_as("admin")
    # An action: a user refused for a weak password is audited as well; its page names its request id.
    _create_user(page, _email("audited"), "analyst", "too-short")
    request_id = request_id_in_footer(page)

    page.goto("/admin/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail")
    page.get_by_label("Request ID").fill(request_id)
    page.get_by_role("button", name="Apply filters").click()
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(2)  # the header and the one record
    record = rows.nth(1)
    expect(record).to_contain_text("user.create")
    expect(record).to_contain_text("422")
    expect(record).to_contain_text("admin@demo.test")
    expect(record).to_contain_text(request_id)

    page.get_by_role("button", name="Verify chain").click()
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"Chain verified: [\d,]+ records checked"))
    expect(page.get_by_label("Request ID")).to_have_value(request_id)  # the filters stay
    assert_accessible(page)
    snap(page, "audit-trail")


def test_the_csv_download_has_a_header_row_and_the_filtered_record_and_no_formula_cells(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    request_id = f"csv-{uuid.uuid4().hex}"
    with ui_stack.api("admin") as api:
        refused = api.post(
            "/api/users",
            json={"email": _email("csv"), "role": "analyst", "password": "short"},
            headers={"X-Request-ID": request_id, "User-Agent": '=HYPERLINK("http://evil.example")'},
        )
    assert refused.status_code == 422
    page = page_as("auditor")
    page.goto(f"/admin/audit?request_id={request_id}")
    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Download CSV").click()
    assert downloaded.value.suggested_filename.startswith("audit-trail-")
    text = Path(downloaded.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0].startswith("created_at,actor_id,actor_email,actor_role,action")
    assert [(r["request_id"], r["action"], r["status"]) for r in rows] == [(request_id, "user.create", "422")]
    assert rows[0]["user_agent"] == '\'=HYPERLINK("http://evil.example")'
    answer = page.request.get(f"/admin/audit.csv?request_id={request_id}")
    assert answer.headers["content-disposition"].startswith('attachment; filename="audit-trail-')
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"


def test_verify_chain_names_the_first_record_that_was_altered(ui_stack: UiStack, page_as: Callable[..., Page]) -> None:
    # A fresh org's own trail, altered in the database as an attacker would: the demo org's stays intact.
    org = new_org(ui_stack.stack)
    with org.client() as api:
        for _ in range(3):
            api.post("/api/users", json={"email": _email("chain"), "role": "analyst"})
    engine = sync_engine(ui_stack.stack.databases.bff_url)
    try:
        with engine.connect() as conn:
            victim = conn.execute(
                text("SELECT id FROM audit_records WHERE org_id = :org ORDER BY seq LIMIT 1 OFFSET 1"),
                {"org": org.org_id},
            ).scalar_one()
        with append_only_lifted(engine, "audit_records") as conn:
            conn.execute(text("UPDATE audit_records SET status = 299 WHERE id = :id"), {"id": victim})
    finally:
        engine.dispose()
    page = page_as(email=org.admin_email, password=TEST_PASSWORD)
    page.goto("/admin/audit")
    page.get_by_role("button", name="Verify chain").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Chain broken at record {victim}")
    expect(page.get_by_text("Chain verified")).to_have_count(0)


def test_an_auditor_reads_the_audit_trail_but_not_the_users(page_as: Callable[..., Page]) -> None:
    page = page_as("auditor")
    page.goto("/admin/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail")
    expect(page.get_by_role("button", name="Verify chain")).to_be_visible()
    _expect_forbidden(page, "/admin/users")
    _expect_forbidden(page, "/admin/status")


def test_a_gp_gets_the_403_page_on_the_audit_trail_users_and_status(page_as: Callable[..., Page]) -> None:
    page = page_as("gp")
    _expect_forbidden(page, "/admin/audit")
    _expect_forbidden(page, "/admin/users")
    _expect_forbidden(page, "/admin/status")
    # The firm's roles may read the settings; only an admin gets the form.
    page.goto("/admin/settings")
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    expect(page.get_by_text("Only an admin changes these settings.")).to_be_visible()
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)

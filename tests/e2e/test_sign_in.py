"""Signing in and out, sessions, and what every page carries (layout, headers, request id)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.e2e.support import DEMO_PASSWORD, UiStack, assert_accessible, request_id_in_footer


def test_a_page_without_a_session_sends_you_to_sign_in_and_back(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    page = page_as(None)
    page.goto("/account")
    expect(page).to_have_url(f"{ui_stack.url}/login?next=/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Cornerstone")
    assert_accessible(page)
    page.get_by_label("Email").fill("gp@demo.test")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{ui_stack.url}/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")


def test_wrong_password_shows_the_form_again_with_an_error_and_401(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    page = page_as(None)
    page.goto("/login")
    page.get_by_label("Email").fill("gp@demo.test")
    page.get_by_label("Password").fill("not-the-password")
    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as posted:
        page.get_by_role("button", name="Sign in").click()
    assert posted.value.status == 401
    expect(page.get_by_role("alert")).to_contain_text("Email or password is incorrect.")
    expect(page.get_by_label("Email")).to_have_value("gp@demo.test")
    assert "cs_session" not in {cookie["name"] for cookie in page.context.cookies()}


def test_the_session_cookie_is_http_only_and_lax_and_sign_out_ends_it(
    ui_stack: UiStack, page_as: Callable[..., Page]
) -> None:
    page = page_as(None)
    ui_stack.sign_in(page, "analyst@demo.test")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["cs_session"]["httpOnly"] is True
    assert cookies["cs_session"]["sameSite"] == "Lax"
    assert cookies["cs_csrf"]["httpOnly"] is True
    assert page.evaluate("document.cookie") == ""  # no token is reachable from page scripts
    stolen = cookies["cs_session"]["value"]
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{ui_stack.url}/login?signed_out=1")
    # The token the cookie held was revoked, not just forgotten.
    with ui_stack.stack.client(stolen) as client:
        assert client.get("/api/me").status_code == 401


def test_every_page_has_one_h1_a_main_a_nav_and_its_request_id_in_the_footer(page_as: Callable[..., Page]) -> None:
    page = page_as("gp")
    with page.expect_response(lambda r: r.url.endswith("/account")) as loaded:
        page.goto("/account")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("main")).to_have_count(1)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    assert request_id_in_footer(page) == loaded.value.headers["x-request-id"]
    headers = loaded.value.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert_accessible(page)

"""The web UI's plumbing over real servers: the session cookie as a credential, sign-in through
the form (one audit record, the API's), expiry, safe redirects, and forms that are clients of the API."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from cornerstone.bff.web.session import safe_next
from tests.support import TEST_PASSWORD, Org


def _browser(org: Org, **cookies: str) -> httpx.Client:
    return httpx.Client(
        base_url=org.stack.bff.url,
        cookies=cookies,
        headers={"Accept": "text/html", "Origin": org.stack.bff.url},
        timeout=30,
        follow_redirects=False,
    )


def _csrf_from(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:2000]
    return match.group(1)


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/deals/abc?view=table", "/deals/abc?view=table"),
        ("/", "/"),
        ("//evil.example/x", None),
        ("https://evil.example/", None),
        ("/\\evil.example", None),
        ("deals", None),
        ("", None),
        (None, None),
    ],
)
def test_sign_in_returns_only_to_a_path_of_this_site(target: str | None, safe: str | None) -> None:
    assert safe_next(target) == safe


def test_the_session_cookie_authenticates_api_reads_like_a_bearer_token(org: Org) -> None:
    with httpx.Client(base_url=org.stack.bff.url, cookies={"cs_session": org.admin_token}, timeout=30) as client:
        me = client.get("/api/me")
    assert me.status_code == 200, me.text
    assert me.json()["org_id"] == org.org_id


def test_signing_in_through_the_form_sets_the_cookies_and_leaves_one_audit_record(org: Org) -> None:
    request_id = f"ui-login-{uuid.uuid4().hex}"
    with _browser(org) as browser:
        form = browser.get("/login")
        token = _csrf_from(form)
        signed_in = browser.post(
            "/login",
            data={"csrf_token": token, "email": org.admin_email, "password": TEST_PASSWORD, "next": "/account"},
            headers={"X-Request-ID": request_id},
        )
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == "/account"
        cookie_headers = signed_in.headers.get_list("set-cookie")
        session_cookie = next(h for h in cookie_headers if h.startswith("cs_session="))
        assert "HttpOnly" in session_cookie
        assert "SameSite=lax" in session_cookie or "SameSite=Lax" in session_cookie
        assert "Secure" not in session_cookie  # plain http here; Secure under https
        # The CSRF token known before sign-in is replaced by a fresh one.
        assert browser.cookies["cs_csrf"] != token
        account = browser.get("/account")
        assert account.status_code == 200
        assert org.admin_email in account.text
    with org.client() as admin:
        records = admin.get("/api/audit", params={"request_id": request_id}).json()["items"]
    assert [(r["action"], r["status"]) for r in records] == [("auth.login", 200)]


def test_a_revoked_session_sends_the_browser_to_sign_in_and_drops_the_cookie(org: Org) -> None:
    token = org.fresh_token("analyst")
    with org.stack.client(token) as client:
        assert client.post("/api/auth/logout").status_code == 204
    with _browser(org, cs_session=token) as browser:
        page = browser.get("/account")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/account&expired=1"
    assert any(h.startswith('cs_session=""') or "cs_session=;" in h for h in page.headers.get_list("set-cookie"))


def test_a_wrong_password_through_the_form_is_401_with_the_form_again(org: Org) -> None:
    with _browser(org) as browser:
        token = _csrf_from(browser.get("/login"))
        refused = browser.post("/login", data={"csrf_token": token, "email": org.admin_email, "password": "nope"})
    assert refused.status_code == 401
    assert "Email or password is incorrect." in refused.text
    assert "cs_session" not in refused.headers.get("set-cookie", "")


def test_static_files_are_cacheable_by_digest_and_spend_no_rate_limit(org: Org) -> None:
    with _browser(org) as browser:
        page = browser.get("/login")
        stylesheet = re.search(r'href="(/static/app\.css\?v=[0-9a-f]{16})"', page.text)
        assert stylesheet, page.text[:1000]
        served = browser.get(stylesheet.group(1))
    assert served.status_code == 200
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "ratelimit" not in served.headers  # not a request a person makes
    assert "ratelimit" in page.headers
    assert page.headers["cache-control"] == "no-store"


def test_a_form_the_page_refuses_before_the_api_is_audited_with_why(org: Org) -> None:
    request_id = f"ui-refused-{uuid.uuid4().hex}"
    with _browser(org, cs_session=org.admin_token) as browser:
        token = _csrf_from(browser.get("/deals/new"))
        refused = browser.post(
            "/deals/new",
            data={"csrf_token": token, "name": "Typo Tower", "asset_class": "office", "purchase_price": "12.345"},
            headers={"X-Request-ID": request_id},
        )
    assert refused.status_code == 422, refused.text[:1000]
    with org.client() as admin:
        records = admin.get("/api/audit", params={"request_id": request_id}).json()["items"]
        assert admin.get("/api/deals", params={"q": "Typo Tower"}).json()["items"] == []
    assert [(r["action"], r["status"], r["error_code"]) for r in records] == [("deal.create", 422, "VALIDATION_ERROR")]


def test_a_body_too_large_for_a_page_is_the_error_page_for_a_browser(org: Org) -> None:
    with _browser(org) as browser:
        refused = browser.post("/login", content=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "text/plain"})
    assert refused.status_code == 413
    assert "text/html" in refused.headers["content-type"]
    assert refused.headers["x-request-id"] in refused.text
    assert "<h1>Too large</h1>" in refused.text


def test_a_pages_request_id_reaches_the_kernel_and_its_audit_record(org: Org) -> None:
    """UI -> BFF -> kernel: the form's request id is on the kernel's event and on the audit record."""
    request_id = f"ui-create-{uuid.uuid4().hex}"
    name = f"Traced Tower {uuid.uuid4().hex[:6]}"
    with _browser(org, cs_session=org.admin_token) as browser:
        token = _csrf_from(browser.get("/deals/new"))
        created = browser.post(
            "/deals/new",
            data={"csrf_token": token, "name": name, "asset_class": "office"},
            headers={"X-Request-ID": request_id},
        )
    assert created.status_code == 303, created.text[:1000]
    assert created.headers["x-request-id"] == request_id
    deal_id = created.headers["location"].split("/deals/", 1)[1].split("?", 1)[0].split("#", 1)[0]
    with org.client() as admin:
        events = admin.get(f"/api/deals/{deal_id}/history").json()["items"]
        records = admin.get("/api/audit", params={"request_id": request_id}).json()["items"]
    assert [event["request_id"] for event in events] == [request_id]
    assert [(r["action"], r["status"], r["target_id"]) for r in records] == [("deal.create", 201, deal_id)]

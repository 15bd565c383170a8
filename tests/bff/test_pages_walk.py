"""Every page route of the web UI, read from the app's router: a session, a CSRF proof on every
form, and an audit record when a form is refused before it reaches the API.

Pages are clients of the API (``bff.web.api``): the API routes they call declare the permissions
(walked by test_role_matrix.py). What a page route must add is walked here, so a page added
later without a session check or a CSRF check fails CI.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi.routing import APIRoute

from cornerstone.bff.authz.routes import PAGE_TAG
from cornerstone.bff.web.session import check_csrf, check_origin_before_body, page_session
from tests.integration.helpers import built_bff_app
from tests.support import Org

# Pages anyone may open: the start page (which redirects) and the sign-in page.
PUBLIC_PAGES = {("GET", "/"), ("GET", "/login")}
# Forms anyone may post (each still needs the CSRF proof): signing in and out.
PUBLIC_FORMS = {("POST", "/login"), ("POST", "/logout")}


def _dependency_calls(route: APIRoute) -> set[Any]:
    calls: set[Any] = set()
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        calls.add(dependant.call)
        pending.extend(dependant.dependencies)
    return calls


def _page_routes() -> list[tuple[str, str, APIRoute]]:
    app = built_bff_app()
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    contexts: list[Any] = list(iter_contexts(app.routes)) if iter_contexts else list(app.routes)
    found = []
    for context in contexts:
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute) and PAGE_TAG in (route.tags or ()):
            for method in sorted(context.methods - {"HEAD", "OPTIONS"}):
                found.append((method, context.path, route))
    return sorted(found, key=lambda item: (item[1], item[0]))


PAGES = _page_routes()


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x" + uuid.uuid4().hex[:8], path)


def test_the_ui_has_pages_and_none_of_them_is_under_api() -> None:
    assert len(PAGES) >= 5
    assert [path for _, path, _ in PAGES if path.startswith("/api/")] == []


def test_every_form_route_checks_the_csrf_proof() -> None:
    """``check_csrf``, or for a file upload ``check_origin_before_body`` (the token is checked after the
    body is parsed: proved for every form by the refusal tests below)."""
    checks = {check_csrf, check_origin_before_body}
    unchecked = [(m, p) for m, p, r in PAGES if m != "GET" and not checks & _dependency_calls(r)]
    assert unchecked == []


def test_every_page_but_sign_in_needs_a_session() -> None:
    open_pages = [
        (m, p)
        for m, p, r in PAGES
        if (m, p) not in PUBLIC_PAGES | PUBLIC_FORMS and page_session not in _dependency_calls(r)
    ]
    assert open_pages == []


def test_each_page_without_a_session_redirects_to_sign_in(org: Org) -> None:
    with org.stack.client() as anonymous:
        for method, path, _ in PAGES:
            if method != "GET" or (method, path) in PUBLIC_PAGES:
                continue
            url = _url(path)
            response = anonymous.get(url, headers={"Accept": "text/html"})
            assert response.status_code == 303, (path, response.status_code)
            assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("with_session", "origin", "token"),
    [
        (True, "https://evil.example", "a-known-token"),  # another site, which somehow knows the token
        (True, None, "a-guessed-token"),  # this site's origin, the wrong token
        (False, "https://evil.example", "a-known-token"),
    ],
)
def test_each_form_without_the_csrf_proof_is_refused_and_audited(
    org: Org, with_session: bool, origin: str | None, token: str
) -> None:
    """A form posted without both proofs (our token, our origin) is a 403 page and changes nothing;
    the refusal leaves an audit record naming CSRF_FAILED."""
    cookies = {"cs_session": org.admin_token, "cs_csrf": "a-known-token"} if with_session else {}
    for method, path, _ in PAGES:
        if method == "GET":
            continue
        request_id = f"csrf-{uuid.uuid4().hex}"
        with httpx.Client(base_url=org.stack.bff.url, cookies=cookies, timeout=30) as browser:
            response = browser.request(
                method,
                _url(path),
                data={"csrf_token": token},
                files={"file": ("a.txt", b"hello", "text/plain")} if "documents" in path else None,
                headers={
                    "Origin": origin or org.stack.bff.url,
                    "Accept": "text/html",
                    "X-Request-ID": request_id,
                },
            )
        assert response.status_code == 403, (path, response.status_code, response.text[:500])
        assert "text/html" in response.headers["content-type"]
        assert request_id in response.text
        with org.client("admin") as admin:
            records = admin.get("/api/audit", params={"request_id": request_id}).json()["items"]
        if with_session:
            assert [(r["status"], r["error_code"]) for r in records] == [(403, "CSRF_FAILED")], path


def test_an_unknown_page_is_the_404_page_for_a_browser_and_a_problem_for_an_api_client(org: Org) -> None:
    with org.stack.client() as client:
        page = client.get("/no-such-page", headers={"Accept": "text/html,application/xhtml+xml"})
        assert page.status_code == 404
        assert "text/html" in page.headers["content-type"]
        assert "Page not found" in page.text
        assert page.headers["x-request-id"] in page.text
        problem = client.get("/no-such-page")
        assert problem.status_code == 404
        assert problem.headers["content-type"] == "application/problem+json"

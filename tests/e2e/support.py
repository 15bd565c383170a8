"""Helpers of the browser tests: the demo stack, signing in, the API beside the browser, axe."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.support import Org, Stack

CHROMIUM = "/usr/bin/chromium"
DEMO_PASSWORD = "e2e-demo-password-1234"
DEMO_EMAILS = {
    "admin": "admin@demo.test",
    "gp": "gp@demo.test",
    "analyst": "analyst@demo.test",
    "auditor": "auditor@demo.test",
    "lp": "lp@demo.test",
    "external": "lender@demo.test",
}
_axe = Axe()


@dataclass
class UiStack:
    stack: Stack
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.stack.bff.url

    def email(self, role: str) -> str:
        return DEMO_EMAILS[role]

    def sign_in(self, page: Page, email: str, password: str = DEMO_PASSWORD) -> None:
        page.goto("/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    def api(self, role: str = "admin") -> httpx.Client:
        """The JSON API as a demo user, for setting up what a test is not about and for checking
        what the browser did."""
        email = self.email(role) if role in DEMO_EMAILS else role
        if email not in self._tokens:
            with self.stack.client() as client:
                answer = client.post("/api/auth/token", json={"email": email, "password": DEMO_PASSWORD})
                assert answer.status_code == 200, answer.text
                self._tokens[email] = answer.json()["access_token"]
        return self.stack.client(self._tokens[email])


def demo_org(ui_stack: UiStack) -> Org:
    """The demo org as ``tests.support`` helpers (``advance``, ``create_deal``) drive it: its admin
    and gp, by their API tokens (setup a test is not about)."""
    tokens = {}
    for role in ("admin", "gp"):
        with ui_stack.api(role):
            pass
        tokens[role] = ui_stack._tokens[ui_stack.email(role)]
    with ui_stack.api("admin") as admin:
        org_id = admin.get("/api/me").json()["org_id"]
    return Org(ui_stack.stack, org_id, tokens["admin"], tokens={"gp": tokens["gp"]})


def assert_accessible(page: Page) -> None:
    """axe-core on the page as it is: no serious or critical violation (WCAG 2.1 A and AA rules)."""
    results = _axe.run(
        page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
    )
    violations: list[dict[str, Any]] = results.response.get("violations", [])
    bad = [v for v in violations if v.get("impact") in {"serious", "critical"}]
    report = "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} -> {[n.get('target') for n in v.get('nodes', [])][:5]}" for v in bad
    )
    assert not bad, f"axe found serious/critical violations on {page.url}:\n{report}"


def request_id_in_footer(page: Page) -> str:
    text = page.locator("footer").inner_text()
    match = re.search(r"Request ID:\s*([A-Za-z0-9._-]+)", text)
    assert match, text
    return match.group(1)

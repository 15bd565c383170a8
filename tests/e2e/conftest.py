"""Browser tests: the web UI in Debian's Chromium, driven by Playwright as a person drives it.

One stack for the whole run (kernel + BFF as real servers on SQLite, seeded with the demo org
by ``cornerstone demo``); one browser per module; each demo role signs in through the sign-in
form once and its ``storage_state`` is reused. Controls are found by role and accessible name
(``get_by_role``, ``get_by_label``), as assistive technology finds them.

Chromium is ``/usr/bin/chromium`` (``.ci/run`` installs it). Without it these tests skip, except
under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.e2e.support import CHROMIUM, DEMO_PASSWORD, UiStack
from tests.support import Databases, start_stack

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if CI:
        pytest.fail(f"CI=true requires Chromium at {CHROMIUM} (.ci/run installs the chromium package)")
    pytest.skip(f"Chromium is not installed at {CHROMIUM}")


@pytest.fixture(scope="session")
def ui_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiStack]:
    _require_chromium()
    data_dir = tmp_path_factory.mktemp("ui-data")
    databases = Databases.create("sqlite", data_dir)
    env = {**os.environ, **databases.env(), "CORNERSTONE_DEMO_PASSWORD": DEMO_PASSWORD}
    seeded = subprocess.run(
        [sys.executable, "-m", "cornerstone", "demo", "--password", DEMO_PASSWORD, "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    stack = start_stack(databases, tmp_path_factory.mktemp("ui-logs"))
    try:
        yield UiStack(stack)
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Playwright]:
    """Per module: Playwright's sync API keeps an event loop running in this thread while it is up,
    which would break every later test that runs a loop of its own (``asyncio.run``)."""
    _require_chromium()
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def signed_in_states() -> dict[str, dict[str, Any]]:
    """Each demo user's storage state after signing in through the form (filled on first use)."""
    return {}


@pytest.fixture
def page_as(
    ui_stack: UiStack, browser: Browser, signed_in_states: dict[str, dict[str, Any]]
) -> Iterator[Callable[..., Page]]:
    """``page_as("gp")``: a new page in a context signed in as that demo user (or any email with
    ``page_as(email=..., password=...)``); ``page_as(None)`` is signed out."""
    contexts: list[BrowserContext] = []

    def open_page(role: str | None = None, *, email: str | None = None, password: str = DEMO_PASSWORD) -> Page:
        if role is None and email is None:
            context = browser.new_context(base_url=ui_stack.url)
        else:
            who = email or ui_stack.email(str(role))
            if who not in signed_in_states:
                signer = browser.new_context(base_url=ui_stack.url)
                ui_stack.sign_in(signer.new_page(), who, password)
                signed_in_states[who] = signer.storage_state()
                signer.close()
            context = browser.new_context(base_url=ui_stack.url, storage_state=signed_in_states[who])  # type: ignore[arg-type]
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path | None:
    """Where ``snap`` writes README screenshots: ``CORNERSTONE_SCREENSHOT_DIR`` (``make screenshots``)."""
    target = os.environ.get("CORNERSTONE_SCREENSHOT_DIR")
    if not target:
        return None
    path = Path(target)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def snap(screenshot_dir: Path | None) -> Callable[[Page, str], None]:
    def take(page: Page, name: str) -> None:
        if screenshot_dir is not None:
            page.screenshot(path=str(screenshot_dir / f"{name}.png"), full_page=True)

    return take


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the browser tests and run them last: the rest of the suite gives faster feedback."""
    browser_tests = [item for item in items if "tests/e2e/" in str(item.fspath).replace(os.sep, "/")]
    for item in browser_tests:
        item.add_marker(pytest.mark.e2e)
    others = [item for item in items if item not in set(browser_tests)]
    items[:] = others + browser_tests


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: a browser test (Chromium through Playwright)")

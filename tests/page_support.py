"""Helpers of the browser tests: Debian's Chromium driven by Playwright, a screenshot per test.

Chromium is the system one (``/usr/bin/chromium``, ``apt-get install chromium``), never a
Playwright download. Each test's page is saved as ``test-artifacts/<test>.png``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from tests.fixtures.services import ROOT
from tests.live_support import TOKENS

CHROMIUM = os.environ.get("REGIQ_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 15_000  # Playwright's wait for any one expectation
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module (fails, not skips, when it is missing)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A browser page and what happened in it."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def sign_in(self, url: str, role: str) -> Tab:
        """Open the page, sign in with ``role``'s token, wait for the live connection."""
        self.page.goto(url)
        self.page.fill("#token", TOKENS[role])
        self.page.click("#sign-in")
        self.page.wait_for_selector('#conn[data-state="live"]')
        return self

    def row(self, job_id: str, table: str = "#live-table") -> str:
        return f'{table} tr[data-job-id="{job_id}"]'


@pytest.fixture
def tab(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Tab]:
    """A fresh browser context and page; its screenshot is saved at teardown."""
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    result = Tab(page)

    def on_dialog(dialog: Dialog) -> None:
        result.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: result.errors.append(str(exc)))
    yield result
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    finally:
        context.close()

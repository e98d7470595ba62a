"""The web page in real headless Chromium: sign-in, live progress, cancel, roles, XSS.

A served monitor process, a real in-thread worker for the jobs that run, and Debian's
Chromium driven by Playwright; each test leaves a screenshot in ``test-artifacts/``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery
from playwright.sync_api import expect

from regiq_tasks import cancel_job, get_job
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import JobWriter, ServedMonitor
from tests.fixtures.page import Tab
from tests.fixtures.waiting import wait_for

Serve = Callable[..., ServedMonitor]
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def url(served_monitor: Serve) -> str:
    return served_monitor(REGIQ_LIVE_METRICS_INTERVAL=0.5).url


@pytest.fixture
def jobs(app: Celery) -> JobWriter:
    return JobWriter(get_tracker(app).store)


def start_long_job(app: Celery, steps: int = 150, step_s: float = 0.1) -> str:
    """A cooperative job reporting progress every ``step_s``; its id once it runs."""
    result = app.tasks["t.cooperative"].delay(steps, step_s, f"fin-{uuid.uuid4().hex}")
    wait_for(lambda: (get_job(result.id, app=app) or {}).get("status") == "running", 15,
             "the long job to run")
    return str(result.id)


def stop_job(app: Celery, job_id: str) -> None:
    """Cancel a job left running so that the worker can stop."""
    job = get_job(job_id, app=app) or {}
    if job.get("status") == "running":
        cancel_job(job_id, "test over", requested_by="test", app=app)


def test_a_signed_in_operator_watches_a_running_bar_advance_without_reloading(
        url: str, tab: Tab, app: Celery, worker: Any) -> None:
    job_id = start_long_job(app)
    try:
        tab.sign_in(url, "operator")
        assert tab.page.evaluate("sessionStorage.getItem('regiq.token')") is not None
        assert "operator-secret" not in tab.page.url
        tab.page.evaluate("window.__sameDocument = true")
        row = tab.page.locator(tab.row(job_id))
        expect(row.locator(".badge")).to_have_text("running")
        seen: list[str] = []

        def advanced() -> bool:
            text = row.locator(".pct").inner_text()
            if text and text not in seen:
                seen.append(text)
            return len(seen) >= 3

        wait_for(advanced, 15, "the progress bar to move twice")
        percents = [int(text.rstrip("%")) for text in seen]
        assert percents == sorted(percents) and percents[-1] > percents[0]
        width = row.locator(".bar-fill").evaluate("e => parseFloat(e.style.width)")
        assert width > 0
        assert tab.page.evaluate("window.__sameDocument") is True  # never reloaded
        expect(tab.page.locator("#whoami")).to_have_text("operator · operator")
        expect(tab.page.locator("#stat-running")).to_have_text("1")
        assert tab.errors == []
    finally:
        stop_job(app, job_id)


def test_an_operator_cancels_a_running_job_with_a_reason(url: str, tab: Tab, app: Celery,
                                                         worker: Any) -> None:
    job_id = start_long_job(app)
    try:
        tab.sign_in(url, "operator")
        tab.page.click(tab.row(job_id))
        # the click selected this job (not a row that moved under the pointer), running
        expect(tab.page.locator(tab.row(job_id))).to_have_class(re.compile(r"\bselected\b"))
        expect(tab.page.locator("#detail .badge").first).to_have_text("running")
        expect(tab.page.locator("#cancel-form")).to_be_visible()
        tab.page.fill("#cancel-reason", "wrong input file")
        tab.page.click("#cancel-button")
        expect(tab.page.locator(tab.row(job_id)).locator(".badge")).to_have_text("cancelled")
        record = tab.page.locator("#detail .cancel-record")
        expect(record).to_contain_text("wrong input file")
        expect(record).to_contain_text("operator")
        expect(tab.page.locator("#cancel-form")).to_be_hidden()  # nothing left to cancel
        job = get_job(job_id, app=app)
        assert job is not None and job["status"] == "cancelled"
        assert job["cancel"]["reason"] == "wrong input file"
        assert job["cancel"]["requested_by"] == "operator"
    finally:
        stop_job(app, job_id)


def test_a_viewer_sees_the_job_but_no_cancel_button(url: str, tab: Tab,
                                                    jobs: JobWriter) -> None:
    jobs.queued("v-1")
    jobs.running("v-1")
    jobs.progress("v-1", 30, 100, "halfway there")
    tab.sign_in(url, "viewer")
    tab.page.click(tab.row("v-1"))
    expect(tab.page.locator("#detail")).to_contain_text("halfway there")
    expect(tab.page.locator("#cancel-form")).to_be_hidden()
    expect(tab.page.locator("#cancel-button")).to_be_hidden()
    assert tab.page.get_attribute("body", "data-role") == "viewer"


def test_job_text_is_shown_as_text_and_never_runs(url: str, tab: Tab,
                                                  jobs: JobWriter) -> None:
    tab.sign_in(url, "viewer")
    jobs.queued("xss-1", job_type="<svg onload=alert(2)>", message=XSS)
    jobs.running("xss-1")
    jobs.progress("xss-1", 1, 3, XSS)
    row = tab.page.locator(tab.row("xss-1"))
    expect(row.locator(".msg")).to_have_text(XSS)
    expect(row).to_contain_text("<svg onload=alert(2)>")
    tab.page.click(tab.row("xss-1"))
    expect(tab.page.locator("#detail")).to_contain_text(XSS)
    tab.page.select_option("#filter-type", "<svg onload=alert(2)>")
    expect(row).to_be_visible()
    assert tab.page.locator("img").count() == 0
    assert tab.page.locator("main svg[onload]").count() == 0
    assert tab.dialogs == [] and tab.errors == []


def test_the_page_is_public_but_holds_nothing_before_sign_in(url: str, tab: Tab,
                                                             jobs: JobWriter) -> None:
    jobs.run("hidden-1")
    response = tab.page.goto(url)
    assert response is not None and response.ok
    assert "default-src 'none'" in response.headers["content-security-policy"]
    expect(tab.page.locator("#signin")).to_be_visible()
    expect(tab.page.locator("#app")).to_be_hidden()
    expect(tab.page.locator("#conn")).to_have_attribute("data-state", "offline")
    assert "hidden-1" not in tab.page.content()
    tab.page.fill("#token", "not-a-token")
    tab.page.click("#sign-in")
    expect(tab.page.locator("#signin-error")).to_contain_text("Sign-in failed")
    assert tab.page.evaluate("sessionStorage.getItem('regiq.token')") is None

"""Operator actions in real Chromium: retry a failed job, cancel a pipeline.

A served monitor process, a real in-thread worker for the jobs; each test leaves a
screenshot in ``test-artifacts/``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery, chain
from playwright.sync_api import expect

from regiq_tasks import get_job
from tests.fixtures.live import ServedMonitor
from tests.fixtures.page import Tab
from tests.fixtures.waiting import wait_for

Serve = Callable[..., ServedMonitor]


@pytest.fixture
def url(served_monitor: Serve) -> str:
    return served_monitor().url


def status_of(app: Celery, job_id: str) -> str | None:
    return (get_job(job_id, app=app) or {}).get("status")


def failed_job_shown(url: str, tab: Tab, app: Celery, key: str, role: str) -> Any:
    """A job whose first run failed, shown in the detail of a ``role`` signed in."""
    failed = app.tasks["t.once"].delay(5, key)
    wait_for(lambda: status_of(app, failed.id) == "failed", 20, "the first run to fail")
    tab.sign_in(url, role)
    tab.page.click(tab.row(failed.id))
    expect(tab.page.locator("#detail .badge").first).to_have_text("failed")
    return failed


def test_an_operator_retries_a_failed_job_and_sees_the_new_job(
        url: str, tab: Tab, app: Celery, prefix: str, worker: Any) -> None:
    failed = failed_job_shown(url, tab, app, f"{prefix}once", "operator")
    expect(tab.page.locator("#cancel-form")).to_be_hidden()
    tab.page.click("#retry-button")
    expect(tab.page.locator("#retry-result")).to_contain_text(f"retry of {failed.id}")
    new_id = wait_for(lambda: (get_job(failed.id, app=app) or {}).get("retried_as"), 10,
                      "the link to the new job")
    detail = tab.page.locator("#detail")
    expect(detail).to_contain_text(new_id)
    expect(detail).to_contain_text("Retry of")
    expect(detail.locator(".badge").first).to_have_text("succeeded")
    expect(tab.page.locator("#retry-box")).to_be_hidden()  # a succeeded job is not retried
    expect(tab.page.locator(tab.row(new_id)).locator(".badge")).to_have_text("succeeded")
    tab.page.click(f'#detail .job-link:text("{failed.id}")')
    expect(detail).to_contain_text("Retried as")
    expect(tab.page.locator("#retry-box")).to_be_hidden()  # retried already
    assert tab.errors == []


def test_an_operator_cancels_a_pipeline_from_its_view(url: str, tab: Tab, app: Celery,
                                                      prefix: str, worker: Any) -> None:
    marker = f"{prefix}second-ran"
    first = app.tasks["t.cooperative"].s(1000, 0.02, f"fin-{uuid.uuid4().hex}")
    result = chain(first, app.tasks["t.mark"].si(marker)).apply_async()
    head = result.parent.id
    wait_for(lambda: status_of(app, head) == "running", 20, "the first link to run")
    tab.sign_in(url, "operator")
    tab.page.click(tab.row(head))
    tab.page.click("#detail .pipeline-link")
    form = tab.page.locator("#pipeline-cancel-form")
    expect(form).to_be_visible()
    tab.page.fill("#pipeline-cancel-reason", "batch withdrawn")
    tab.page.click("#pipeline-cancel-button")
    expect(tab.page.locator("#pipeline-cancel-result")).to_contain_text("Pipeline cancelled")
    wait_for(lambda: status_of(app, head) == "cancelled", 20, "the running link to stop")
    view = tab.page.locator("#pipeline-view")
    expect(view.locator(f'tr[data-job-id="{head}"] .badge')).to_have_text("cancelled")
    expect(form).to_be_hidden()  # nothing left to cancel
    assert status_of(app, result.id) in (None, "cancelled")
    assert app.backend.client.get(marker) is None
    assert get_job(head, app=app)["cancel"]["reason"] == "batch withdrawn"
    assert tab.errors == []


def test_a_viewer_gets_neither_retry_nor_pipeline_cancel(url: str, tab: Tab, app: Celery,
                                                          prefix: str, worker: Any) -> None:
    failed_job_shown(url, tab, app, f"{prefix}v", "viewer")
    expect(tab.page.locator("#retry-box")).to_be_hidden()
    tab.page.click("#detail .pipeline-link")
    expect(tab.page.locator("#pipeline-view tr[data-job-id]")).to_have_count(1)
    expect(tab.page.locator("#pipeline-cancel-form")).to_be_hidden()

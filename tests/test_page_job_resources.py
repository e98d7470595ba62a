"""A running job's live resources in the job detail, in real Chromium.

A real prefork worker runs the job, heartbeating every half second; ``tab`` comes after
the worker in the arguments: it is torn down first, so its screenshot shows the job.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from celery import Celery
from playwright.sync_api import expect

from tests.fixtures.live import ServedMonitor
from tests.fixtures.page import Tab
from tests.fixtures.services import PreforkWorker

Serve = Callable[..., ServedMonitor]


@pytest.fixture
def url(served_monitor: Serve) -> str:
    return served_monitor(REGIQ_LIVE_METRICS_INTERVAL=0.5).url


@pytest.mark.prefork
def test_a_running_jobs_detail_shows_its_resources_changing(
        url: str, make_app: Callable[..., Celery],
        prefork_worker: Callable[..., PreforkWorker], tab: Tab) -> None:
    # a worker whose jobs heartbeat every half second (lost_after / 4)
    app = make_app(lost_after=2)
    prefork_worker(app, lost_after=2)
    tab.sign_in(url, "viewer")
    result = app.tasks["t.grow"].delay(6.0)  # burns CPU, holds 2 MiB more every 0.1 s of it
    tab.page.click(tab.row(result.id))
    detail = tab.page.locator("#detail-body")
    expect(detail.locator(".badge").first).to_have_text("running")
    expect(detail.locator(".live-tag")).to_have_text("live")
    rss, cpu_time = detail.locator(".res-rss"), detail.locator(".res-cpu-time")
    expect(rss).to_have_text(re.compile(r"MiB$"))
    first_rss, first_cpu = rss.inner_text(), cpu_time.inner_text()
    expect(rss).not_to_have_text(first_rss)  # the heartbeats' updates, in place
    expect(cpu_time).not_to_have_text(first_cpu)
    expect(detail.locator(".res-peak")).to_have_text(re.compile(r"MiB$"))
    # once it ended: its totals, no current RSS, not live
    expect(detail.locator(".badge").first).to_have_text("succeeded", timeout=30_000)
    expect(detail.locator(".live-tag")).to_have_count(0)
    expect(rss).to_have_count(0)
    expect(detail.locator(".res-peak")).to_have_text(re.compile(r"MiB$"))
    assert result.get(timeout=10) > 0
    assert tab.errors == []

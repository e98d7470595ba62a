"""The page's other views in real Chromium: connection health, pipeline, history, charts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from celery import Celery
from playwright.sync_api import expect

from regiq_tasks.history import repository
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import JobWriter, ServedMonitor
from tests.fixtures.page import Tab

Serve = Callable[..., ServedMonitor]


@pytest.fixture
def jobs(app: Celery) -> JobWriter:
    return JobWriter(get_tracker(app).store)


def test_a_dropped_connection_shows_reconnects_and_catches_up(
        served_monitor: Serve, tab: Tab, jobs: JobWriter) -> None:
    first = served_monitor(REGIQ_LIVE_LEASE_TTL=1.0)  # a killed relay's lease ends soon
    tab.sign_in(first.url, "viewer")
    first.kill()
    expect(tab.page.locator("#conn")).to_have_attribute("data-state", "down")
    expect(tab.page.locator("#conn")).to_contain_text("reconnecting")
    jobs.queued("while-down")  # happens while the page is cut off
    jobs.running("while-down")
    served_monitor(port=first.port, REGIQ_LIVE_LEASE_TTL=1.0)  # back on the same address
    expect(tab.page.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)
    expect(tab.page.locator(tab.row("while-down")).locator(".badge")).to_have_text("running")
    jobs.finish("while-down")
    expect(tab.page.locator(tab.row("while-down")).locator(".badge")).to_have_text("succeeded")


def test_the_pipeline_view_shows_its_jobs_and_aggregate_progress(
        served_monitor: Serve, tab: Tab, jobs: JobWriter) -> None:
    url = served_monitor().url
    jobs.run("p-a", "fetch", "pipe-1")
    jobs.queued("p-b", "parse", "pipe-1")
    jobs.running("p-b")
    jobs.progress("p-b", 50, 100)
    jobs.run("other", "fetch", "pipe-2")
    tab.sign_in(url, "viewer")
    tab.page.click(tab.row("p-b"))
    tab.page.click("#detail .pipeline-link")
    view = tab.page.locator("#pipeline-view")
    expect(view.locator("tr[data-job-id]")).to_have_count(2)
    expect(tab.page.locator("#pipeline-percent")).to_have_text("75.0%")
    jobs.progress("p-b", 100, 100)
    jobs.finish("p-b")
    expect(tab.page.locator("#pipeline-percent")).to_have_text("100.0%")
    expect(view).not_to_contain_text("other")


def test_the_history_tab_pages_through_archived_jobs(served_monitor: Serve, tab: Tab,
                                                     jobs: JobWriter, app: Celery) -> None:
    url = served_monitor().url
    ids = [f"h-{n:02d}" for n in range(25)]
    for job_id in ids:
        jobs.run(job_id, "archive")
    tracker = get_tracker(app)
    records = [r for r in tracker.store.get_many(ids) if r is not None]
    assert repository.upsert_jobs(tracker.engine, records) == 25
    tab.sign_in(url, "viewer")
    tab.page.click('.tab[data-tab="history"]')
    rows = tab.page.locator("#history-table tbody tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_have_attribute("data-job-id", "h-24")
    expect(tab.page.locator("#history-newer")).to_be_disabled()
    tab.page.click("#history-older")
    expect(rows).to_have_count(5)
    expect(rows.last).to_have_attribute("data-job-id", "h-00")
    expect(tab.page.locator("#history-older")).to_be_disabled()
    tab.page.click("#history-newer")
    expect(rows).to_have_count(20)
    tab.page.select_option("#history-status", "failed")
    expect(tab.page.locator("#history-empty")).to_be_visible()


def test_the_charts_draw_throughput_and_durations(served_monitor: Serve, tab: Tab,
                                                  jobs: JobWriter) -> None:
    url = served_monitor(REGIQ_LIVE_METRICS_INTERVAL=0.3).url
    for n in range(6):
        jobs.run(f"c-{n}", "fetch" if n % 2 else "parse")
    tab.sign_in(url, "viewer")
    tab.page.click('.tab[data-tab="charts"]')
    expect(tab.page.locator("#chart-throughput polyline")).to_have_count(1)
    expect(tab.page.locator("#stat-throughput")).to_have_text("6")
    tab.page.click('.tab[data-tab="charts"]')  # redraw with the jobs known now
    expect(tab.page.locator("#chart-duration rect.bar-mean")).to_have_count(2)
    expect(tab.page.locator("#chart-duration")).to_contain_text("fetch (3)")

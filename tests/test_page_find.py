"""Finding jobs on the page in real Chromium: the search box, the Job id column with its
copy button, and the live table paging past its first 200 rows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from celery import Celery
from playwright.sync_api import expect

from regiq_tasks.history import repository
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import JobWriter, ServedMonitor
from tests.fixtures.page import Tab
from tests.test_history import BASE, job

Serve = Callable[..., ServedMonitor]
MARKUP = "<img src=x onerror=alert(1)>"


@pytest.fixture
def jobs(app: Celery) -> JobWriter:
    return JobWriter(get_tracker(app).store)


def test_the_live_table_pages_past_200_rows_with_the_listing_cursor(
        served_monitor: Serve, tab: Tab, jobs: JobWriter) -> None:
    for n in range(250):
        jobs.queued(f"page-job-{n:03d}")
    tab.sign_in(served_monitor().url, "viewer")
    tab.page_through("live", (200, 50), ("page-job-249", "page-job-000"))
    tab.page.click("#live-older")
    expect(tab.page.locator("#live-page")).to_have_text("page 2")
    expect(tab.page.locator("#live-table tbody tr").first) \
        .to_have_attribute("data-job-id", "page-job-049")
    jobs.running("page-job-010")  # an older page keeps updating in place
    expect(tab.page.locator(tab.row("page-job-010")).locator(".badge")).to_have_text("running")
    assert not tab.errors


def test_the_job_id_column_shows_a_short_id_and_copies_the_full_one(
        served_monitor: Serve, tab: Tab, jobs: JobWriter) -> None:
    full = "3f2a9c1e-5b7d-4e21-9a0c-1d2e3f4a5b6c"
    jobs.queued(full)
    url = served_monitor().url
    tab.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    tab.sign_in(url, "viewer")
    cell = tab.page.locator(tab.row(full)).locator("td.job-id")
    expect(cell.locator("code")).to_have_text("3f2a9c1e…")
    button = cell.locator("button.copy-id")
    expect(button).to_have_attribute("data-copy", full)
    button.click()
    expect(button).to_have_attribute("data-copied", "true")
    assert tab.page.evaluate("navigator.clipboard.readText()") == full
    expect(tab.page.locator("#detail")).to_be_hidden()  # copying does not open the job


@pytest.fixture
def found(served_monitor: Serve, tab: Tab, jobs: JobWriter, app: Celery) -> Tab:
    """Live jobs (one of a type whose name holds markup) and an archived one."""
    jobs.queued("find-live-1", "ingest")
    jobs.queued("find-live-2", MARKUP)
    tracker = get_tracker(app)
    repository.upsert_jobs(tracker.engine, [job("find-old-1", BASE, name="pipeline.archive",
                                                 type="archive")])
    return tab.sign_in(served_monitor().url, "viewer")


def search(tab: Tab, text: str) -> None:
    tab.page.fill("#search-q", text)
    tab.page.click("#search-go")


def found_ids(tab: Tab) -> list[str]:
    rows = tab.page.locator("#search-table tbody tr")
    return sorted(rows.nth(i).get_attribute("data-job-id") or ""
                  for i in range(rows.count()))


def test_an_id_prefix_finds_live_and_archived_jobs(found: Tab) -> None:
    search(found, "find-")
    table = found.page.locator("#search-table")
    expect(table.locator("tbody tr")).to_have_count(3)
    assert found_ids(found) == ["find-live-1", "find-live-2", "find-old-1"]
    expect(table.locator('tr[data-job-id="find-old-1"] td.where')).to_have_text("archived")
    expect(table.locator('tr[data-job-id="find-live-1"] td.where')).to_have_text("live")
    expect(table.locator('tr[data-job-id="find-live-1"] td.matched')).to_have_text("id")


def test_an_exact_id_opens_its_detail(found: Tab) -> None:
    search(found, "find-old-1")
    expect(found.page.locator("#detail")).to_be_visible()
    expect(found.page.locator("#detail-title")).to_have_text("pipeline.archive")
    expect(found.page.locator('#search-table tr[data-job-id="find-old-1"] td.matched')) \
        .to_contain_text("exact id")


def test_a_task_name_and_a_type_find_their_jobs(found: Tab) -> None:
    search(found, "pipeline.archive")
    expect(found.page.locator("#search-table tbody tr")).to_have_count(1)
    assert found_ids(found) == ["find-old-1"]
    search(found, "ingest")
    expect(found.page.locator('#search-table tr[data-job-id="find-live-1"] td.matched')) \
        .to_have_text("type")
    assert found_ids(found) == ["find-live-1"]


def test_markup_in_a_name_is_shown_as_text(found: Tab) -> None:
    search(found, MARKUP)
    row = found.page.locator('#search-table tr[data-job-id="find-live-2"]')
    expect(row.locator("td.name")).to_have_text(f"t.{MARKUP}")
    assert found.page.locator("#search-table img").count() == 0
    assert not found.dialogs and not found.errors


def test_bad_input_shows_the_servers_reason_and_no_jobs(found: Tab) -> None:
    search(found, "bad\x00text")
    expect(found.page.locator("#search-error")).to_contain_text("NUL")
    expect(found.page.locator("#search-empty")).to_be_visible()

"""The job detail's log lines in real headless Chromium: shown, then tailed live."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery
from playwright.sync_api import expect

from regiq_tasks import get_job
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import ServedMonitor
from tests.fixtures.page import Tab
from tests.fixtures.waiting import wait_for


def test_the_detail_of_a_running_job_shows_its_lines_and_tails_new_ones(
        served_monitor: Callable[..., ServedMonitor], tab: Tab, app: Celery,
        worker: Any) -> None:
    redis, prefix = get_tracker(app).redis, get_tracker(app).keys.prefix
    gates = [f"{prefix}gate-1", f"{prefix}gate-2"]
    result = app.tasks["t.logs"].delay([
        {"message": "reading d1 password=hunter2"}, {"wait": gates[0]},
        {"message": "parsed d1", "level": "WARNING", "logger": "vendor.parser"},
        {"wait": gates[1]}])
    try:
        wait_for(lambda: (get_job(result.id, app=app) or {}).get("status") == "running", 15,
                 "the job to run")
        tab.sign_in(served_monitor().url, "viewer")
        tab.page.click(tab.row(result.id))
        lines = tab.page.locator("#log-lines li")
        expect(lines).to_have_count(1)
        expect(lines.nth(0)).to_contain_text("reading d1 password=***")
        redis.set(gates[0], 1)
        expect(lines).to_have_count(2)  # appears while the job still runs
        expect(lines.nth(1)).to_contain_text("WARNING vendor.parser parsed d1")
        assert get_job(result.id, app=app)["status"] == "running"
    finally:
        redis.set(gates[1], 1)
    result.get(timeout=10)
    assert not tab.errors

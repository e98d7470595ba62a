"""The health banner in real Chromium, and the Socket.IO ``health`` event it follows.

The served monitors use the machine's Redis, which keeps nothing on disk, no worker runs
and nobody consumes the alert queue: health is ``down`` (no live worker) with those three
reasons; an archive entry older than ``REGIQ_ARCHIVE_LAG`` adds a fourth while it is
there.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from celery import Celery
from playwright.sync_api import expect

from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import LiveClient, ServedMonitor
from tests.fixtures.page import Tab
from tests.fixtures.waiting import wait_for

Serve = Callable[..., ServedMonitor]


def old_archive_entry(app: Celery, age_s: float = 300) -> str:
    """A finished job waiting ``age_s`` for the history (no archiver runs here)."""
    tracker = get_tracker(app)
    old_ms = int((time.time() - age_s) * 1000)
    entry: bytes = tracker.redis.xadd(tracker.keys.archive, {"id": "stuck"}, id=f"{old_ms}-0")
    return entry.decode()


def test_the_banner_names_what_is_wrong_and_follows_it_live(
        served_monitor: Serve, tab: Tab, app: Celery) -> None:
    url = served_monitor(REGIQ_LIVE_HEALTH_INTERVAL=0.5).url
    tab.sign_in(url, "viewer")
    banner = tab.page.locator("#health-banner")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("data-status", "down")
    expect(tab.page.locator("#health-status")).to_have_text("Down:")
    expect(banner).to_contain_text("redis: keeps nothing on disk")
    expect(banner).to_contain_text("workers: no live worker samples itself")
    expect(banner).to_contain_text("alert_queue: no worker consumes regiq.alerts")
    reasons = tab.page.locator("#health-reasons li")
    expect(reasons).to_have_count(3)
    entry = old_archive_entry(app)  # a fourth reason arrives by itself (the health event)
    expect(reasons).to_have_count(4)
    expect(banner).to_contain_text("archiver: 1 finished jobs wait for the history")
    get_tracker(app).redis.xdel(get_tracker(app).keys.archive, entry)
    expect(reasons).to_have_count(3)
    assert tab.errors == []


def test_a_down_answer_shows_the_banner_down_and_its_reasons_as_text(
        served_monitor: Serve, tab: Tab) -> None:
    url = served_monitor(REGIQ_LIVE_HEALTH_INTERVAL=3600).url
    client = LiveClient().connect(url)  # the relay's one health event of the hour is out
    try:
        wait_for(lambda: client.received("health"), 15, "the first health event")
    finally:
        client.sio.disconnect()
    # GET /status/system/health answers 503 with the document when down
    tab.page.route("**/status/system/health", lambda route: route.fulfill(
        status=503, json={"status": "down", "at": "2026-12-01T00:00:00Z", "components": {},
                          "reasons": ["redis: unreachable (ConnectionError)",
                                      "<img src=x onerror=alert(1)>"]}))
    tab.sign_in(url, "viewer")
    banner = tab.page.locator("#health-banner")
    expect(banner).to_have_attribute("data-status", "down")
    expect(tab.page.locator("#health-status")).to_have_text("Down:")
    expect(tab.page.locator("#health-reasons li")).to_have_text(
        ["redis: unreachable (ConnectionError)", "<img src=x onerror=alert(1)>"])  # as text
    assert banner.locator("img").count() == 0 and tab.dialogs == []
    tab.page.click("#sign-out")
    expect(banner).to_be_hidden()


def test_the_health_event_carries_the_document(served_monitor: Serve, app: Celery) -> None:
    url = served_monitor(REGIQ_LIVE_HEALTH_INTERVAL=0.3).url
    client = LiveClient().connect(url)
    try:
        client.subscribe(all=True)
        docs = wait_for(lambda: client.received("health")[1:], 15, "two health events")
    finally:
        client.sio.disconnect()
    doc = docs[-1]
    assert doc["status"] == "down"
    assert set(doc["components"]) == {"redis", "database", "broker", "workers", "archiver",
                                      "alert_queue", "disk"}
    assert any("keeps nothing on disk" in reason for reason in doc["reasons"])

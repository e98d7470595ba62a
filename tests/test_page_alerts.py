"""The alerts panel in real headless Chromium: live arrival, resolve, roles, XSS.

A served monitor process, a real in-thread worker that runs the failing task and the alert
tasks (which emit ``alert`` through the Socket.IO message queue), and Debian's Chromium
driven by Playwright; each test leaves a screenshot in ``test-artifacts/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from celery import Celery
from playwright.sync_api import APIResponse, Locator, Route, expect

from tests.fixtures.alerts import alert_worker, define_alert_tasks, wait_alert
from tests.fixtures.live import TOKENS, ServedMonitor
from tests.fixtures.page import Tab

Serve = Callable[..., ServedMonitor]
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def url(served_monitor: Serve) -> str:
    return served_monitor().url


@pytest.fixture
def alerting(app: Celery) -> Iterator[Any]:
    """An in-thread worker running the test tasks and the alert tasks."""
    define_alert_tasks(app)
    with alert_worker(app) as worker:
        yield worker


def fail_parse(app: Celery, message: str) -> str:
    """Run ``ta.broken`` (job type ``parse``), which fails for good; its job id."""
    return str(app.tasks["ta.broken"].delay(message).id)


def open_alerts(tab: Tab) -> None:
    tab.page.click('.tab[data-tab="alerts"]')
    expect(tab.page.locator('[data-pane="alerts"]')).to_be_visible()


def alert_item(tab: Tab, alert_id: int | None = None) -> Locator:
    if alert_id is None:
        return tab.page.locator("#alerts-list li.alert-item")
    return tab.page.locator(f'#alerts-list li[data-alert-id="{alert_id}"]')


def test_an_alert_from_a_failing_task_appears_live_without_reloading(
        url: str, tab: Tab, app: Celery, alerting: Any) -> None:
    tab.sign_in(url, "viewer")
    open_alerts(tab)
    expect(tab.page.locator("#alerts-empty")).to_be_visible()
    expect(tab.page.locator("#alert-badge")).to_have_text("0 open alerts")
    tab.page.evaluate("window.__sameDocument = true")

    job_id = fail_parse(app, "page 7 unreadable")

    item = alert_item(tab)
    expect(item).to_have_count(1)
    expect(item.locator(".alert-title")).to_have_text("parse failed: ValueError: page 7 unreadable")
    expect(item.locator(".sev")).to_have_text("HIGH")
    expect(item).to_have_attribute("data-status", "open")
    expect(item).to_contain_text("job_failed")
    expect(item.locator(".alert-error")).to_have_text("ValueError: page 7 unreadable")
    expect(tab.page.locator("#alert-badge")).to_have_text("1 open alert")
    expect(tab.page.locator("#alerts-open")).to_have_text("1")
    expect(tab.page.locator('[data-severity-count="HIGH"]')).to_have_text("HIGH 1")
    expect(tab.page.locator("#alerts-tab-count")).to_have_text("1")

    expect(item.locator(".alert-count")).to_have_text("1")
    item.locator(".job-link").click()
    expect(tab.page.locator("#detail")).to_be_visible()
    expect(tab.page.locator("#detail-body")).to_contain_text("ValueError: page 7 unreadable")
    expect(tab.page.locator("#detail-body")).to_contain_text(job_id)
    assert tab.page.evaluate("window.__sameDocument") is True  # never reloaded
    assert tab.errors == []


def test_an_alert_raised_while_the_catch_up_is_out_stays_listed(
        url: str, tab: Tab, app: Celery, alerting: Any) -> None:
    """The catch-up's GET /alerts is answered with what the server had before the alert
    was raised, after its live event arrived: the page keeps the alert."""
    held: list[tuple[Route, APIResponse]] = []

    def hold(route: Route) -> None:  # read the list now, answer it when the test says
        held.append((route, route.fetch()))

    tab.page.route(re.compile(r".*/alerts\?.*"), hold)
    tab.sign_in(url, "operator", caught_up=False)
    open_alerts(tab)
    deadline = time.monotonic() + 15
    while not held:  # the route handler runs while Playwright is waiting
        assert time.monotonic() < deadline, "the catch-up never asked for the alerts"
        tab.page.wait_for_timeout(50)
    fail_parse(app, "late page")
    expect(alert_item(tab)).to_have_count(1)  # through the live event
    route, before = held[0]
    assert before.json()["items"] == []
    route.fulfill(response=before)
    tab.page.unroute(re.compile(r".*/alerts\?.*"))
    tab.wait_live()
    expect(tab.page.locator("#alerts-open")).to_have_text("1")  # statistics read after
    expect(alert_item(tab)).to_have_count(1)
    expect(alert_item(tab).locator(".alert-error")).to_have_text("ValueError: late page")
    assert tab.errors == []


def test_an_operator_resolves_an_alert_with_a_note_and_everyone_sees_it(
        url: str, tab: Tab, app: Celery, alerting: Any) -> None:
    fail_parse(app, "bad checksum")
    alert = wait_alert(app, rule="job_failed")
    watcher = Tab(tab.page.context.new_page()).sign_in(url, "viewer")
    open_alerts(watcher)
    expect(alert_item(watcher, alert["id"])).to_have_attribute("data-status", "open")

    tab.sign_in(url, "operator")
    open_alerts(tab)
    item = alert_item(tab, alert["id"])
    expect(item).to_have_attribute("data-status", "open")
    item.locator(".resolve-note").fill("re-ran the feed with fixed checksums")
    item.locator(".resolve-button").click()

    expect(item).to_have_attribute("data-status", "resolved")
    expect(item.locator(".resolution")).to_contain_text("Resolved by operator")
    expect(item.locator(".alert-note")).to_have_text("re-ran the feed with fixed checksums")
    expect(item.locator(".resolve")).to_have_count(0)
    expect(tab.page.locator("#alert-badge")).to_have_text("0 open alerts")
    seen = alert_item(watcher, alert["id"])  # the other page, through the `alert` event
    expect(seen).to_have_attribute("data-status", "resolved")
    expect(seen.locator(".alert-note")).to_have_text("re-ran the feed with fixed checksums")
    expect(watcher.page.locator("#alert-badge")).to_have_text("0 open alerts")

    body = requests.get(f"{url}/alerts/{alert['id']}", timeout=10,
                        headers={"Authorization": f"Bearer {TOKENS['viewer']}"}).json()
    assert body["status"] == "resolved" and body["resolved_by"] == "operator"
    assert body["note"] == "re-ran the feed with fixed checksums" and body["resolved_at"]
    assert tab.errors == [] and watcher.errors == []


def test_a_viewer_sees_the_alert_but_no_resolve_button(
        url: str, tab: Tab, app: Celery, alerting: Any) -> None:
    fail_parse(app, "missing publication date")
    alert = wait_alert(app, rule="job_failed")
    tab.sign_in(url, "viewer")
    tab.page.click("#alert-badge")  # the header badge opens the panel
    item = alert_item(tab, alert["id"])
    expect(item).to_be_visible()
    expect(item.locator(".alert-title")).to_contain_text("missing publication date")
    expect(item.locator(".resolve")).to_have_count(0)
    expect(tab.page.locator(".resolve-button")).to_have_count(0)
    assert tab.page.get_attribute("body", "data-role") == "viewer"


def test_alert_text_is_shown_as_text_and_never_runs(
        url: str, tab: Tab, app: Celery, alerting: Any) -> None:
    tab.sign_in(url, "operator")
    open_alerts(tab)
    fail_parse(app, XSS)
    item = alert_item(tab)
    expect(item.locator(".alert-title")).to_have_text(f"parse failed: ValueError: {XSS}")
    expect(item.locator(".alert-error")).to_have_text(f"ValueError: {XSS}")
    item.locator(".resolve-note").fill(XSS)
    item.locator(".resolve-button").click()
    expect(item.locator(".alert-note")).to_have_text(XSS)
    tab.page.reload()  # the same text from GET /alerts after a fresh sign-in
    tab.wait_live()
    open_alerts(tab)
    expect(item.locator(".alert-title")).to_have_text(f"parse failed: ValueError: {XSS}")
    assert tab.page.locator("img").count() == 0
    assert tab.dialogs == [] and tab.errors == []

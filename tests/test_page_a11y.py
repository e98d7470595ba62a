"""The page for keyboard and assistive technology users, in real headless Chromium:
axe-core finds no serious or critical violation on any tab, in either theme, wide and
at 420 px; every control is reached with Tab and shows its focus; a job opens with Enter
and its detail closes with Escape, the focus going back to its row."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from celery import Celery
from playwright.sync_api import expect

from regiq_tasks.alerts import store
from regiq_tasks.history import repository
from regiq_tasks.metrics.snapshots import take_snapshots
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.axe import axe_violations
from tests.fixtures.live import JobWriter, ServedMonitor
from tests.fixtures.page import Tab
from tests.test_alerts_store import draft
from tests.test_history import BASE, job

Serve = Callable[..., ServedMonitor]
TABS = ("live", "pipeline", "history", "metrics", "workers", "alerts")


def write_a_bit_of_everything(app: Celery) -> None:
    """Jobs of each kind of status (their metrics with chart points) in pipeline
    ``a11y-pipe``, an archived job and an open alert."""
    tracker = get_tracker(app)
    take_snapshots(tracker.redis, tracker.keys, 35, now=time.time() - 120)
    writer = JobWriter(tracker.store)
    writer.queued("a11y-queued", "ingest", pipeline_id="a11y-pipe", message="waiting")
    writer.queued("a11y-running", "parse", pipeline_id="a11y-pipe")
    writer.running("a11y-running")
    writer.progress("a11y-running", 40, message="page 4 of 10")
    writer.run("a11y-done", "score", pipeline_id="a11y-pipe")
    writer.run("a11y-failed", "score", status="failed")
    take_snapshots(tracker.redis, tracker.keys, 35, now=time.time())
    engine = tracker.engine
    repository.upsert_jobs(engine, [job("a11y-old", BASE, name="pipeline.archive", type="archive")])
    store.raise_alert(engine, draft("a11y-failed"))


@pytest.fixture
def url(served_monitor: Serve, app: Celery) -> str:
    write_a_bit_of_everything(app)
    return served_monitor(REGIQ_LIVE_METRICS_INTERVAL=0.5).url


def show_tab(tab: Tab, name: str) -> None:
    tab.page.click(f'.tab[data-tab="{name}"]')
    expect(tab.page.locator(f'.pane[data-pane="{name}"]')).to_be_visible()


def check_every_view(tab: Tab, axe: Path) -> dict[str, list[dict[str, object]]]:
    """Axe on each tab, the search results and an open job detail: what it found."""
    found = {}
    for name in TABS:
        show_tab(tab, name)
        if name == "pipeline":
            tab.page.fill("#pipeline-id", "a11y-pipe")
            tab.page.click("#pipeline-form button[type=submit]")
            expect(tab.page.locator("#pipeline-view tbody tr")).to_have_count(3)
        if name == "history":
            expect(tab.page.locator("#history-table tbody tr")).to_have_count(1)
        if name == "alerts":
            expect(tab.page.locator("#alerts-list li")).to_have_count(1)
        found[name] = axe_violations(tab.page, axe)
    tab.page.fill("#search-q", "a11y-")
    tab.page.click("#search-go")
    expect(tab.page.locator("#search-table tbody tr")).not_to_have_count(0)
    found["search"] = axe_violations(tab.page, axe)
    show_tab(tab, "live")
    tab.page.click(tab.row("a11y-running"))
    expect(tab.page.locator("#detail")).to_be_visible()
    expect(tab.page.locator("#detail-logs")).to_be_visible()
    found["detail"] = axe_violations(tab.page, axe)
    tab.page.click("#detail-close")
    return {name: violations for name, violations in found.items() if violations}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1400, 420])
def test_axe_finds_no_serious_violation_on_any_tab(
        url: str, new_tab: Callable[..., Tab], axe_script: Path, scheme: str, width: int) -> None:
    tab = new_tab(bypass_csp=True, color_scheme=scheme, viewport={"width": width, "height": 860})
    tab.page.goto(url)
    assert tab.page.evaluate("document.documentElement.dataset.theme") == scheme
    assert axe_violations(tab.page, axe_script) == []  # the sign-in screen
    tab.sign_in(url, "operator")
    expect(tab.page.locator(tab.row("a11y-running"))).to_be_visible()
    found = check_every_view(tab, axe_script)
    assert not found, "\n".join(f"{view}: {v['rule']} ({v['impact']}) {v['help']}: {v['targets']}"
                                for view, violations in found.items() for v in violations)
    assert tab.errors == []


def focused(tab: Tab) -> str:
    """What has the focus, as a short description."""
    return str(tab.page.evaluate("""() => { const e = document.activeElement;
      return e.dataset.jobId ? `row ${e.dataset.jobId}` : e.dataset.tab ? `tab ${e.dataset.tab}`
        : e.id ? `#${e.id}` : e.tagName.toLowerCase(); }"""))


def tab_until(tab: Tab, target: str, most: int = 60) -> list[str]:
    """Press Tab until ``target`` has the focus; every stop on the way (each with a
    visible focus outline)."""
    stops: list[str] = []
    for _ in range(most):
        tab.page.keyboard.press("Tab")
        stops.append(focused(tab))
        outline = tab.page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
          return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; }""")
        assert outline, f"{stops[-1]} shows no focus outline"
        if stops[-1] == target:
            return stops
    raise AssertionError(f"Tab never reached {target}: {stops}")


def test_tab_reaches_the_tabs_and_a_row_enter_opens_it_and_escape_closes_it(
        url: str, tab: Tab) -> None:
    tab.sign_in(url, "operator")
    tab.page.reload()  # signed in still (the tab's session): Tab starts from the top
    tab.wait_live()
    expect(tab.page.locator(tab.row("a11y-running"))).to_be_visible()
    stops = tab_until(tab, "row a11y-running")
    assert {"#theme-choice", "#zone-choice", "#sign-out", "#search-q"} <= set(stops)
    assert [s for s in stops if s.startswith("tab ")] == [f"tab {name}" for name in TABS]
    tab.page.keyboard.press("Enter")
    detail = tab.page.locator("#detail")
    expect(detail).to_be_visible()
    expect(tab.page.locator("#detail-title")).to_be_focused()
    expect(tab.page.locator("#detail-title")).to_have_text("t.parse")
    tab.page.keyboard.press("Escape")
    expect(detail).to_be_hidden()
    expect(tab.page.locator(tab.row("a11y-running"))).to_be_focused()
    # a tab is chosen from the keyboard too, and a history row opens with Enter
    tab_back = tab.page.locator('.tab[data-tab="history"]')
    tab_back.focus()
    tab.page.keyboard.press("Enter")
    history_row = tab.page.locator(tab.row("a11y-old", "#history-table"))
    expect(history_row).to_be_visible()
    history_row.focus()
    tab.page.keyboard.press("Enter")
    expect(tab.page.locator("#detail-title")).to_have_text("pipeline.archive")
    tab.page.click("#detail-close")
    expect(detail).to_be_hidden()
    expect(history_row).to_be_focused()
    assert tab.errors == []

"""How the page shows itself, in real headless Chromium: usable at 420 px wide (nothing
overflows the body, the job detail is a closable full-width sheet), a dark theme that
follows the system setting with a remembered choice, and every time labelled with its
zone, switched between local time and UTC (remembered)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from celery import Celery
from playwright.sync_api import expect

from tests.fixtures.live import ServedMonitor
from tests.fixtures.page import Tab
from tests.test_page_a11y import TABS, show_tab, write_a_bit_of_everything

Serve = Callable[..., ServedMonitor]
NARROW = {"width": 420, "height": 800}
OVERFLOW = "document.documentElement.scrollWidth"
ROW_REACHED = """([selector, id]) => {
  const row = document.querySelector(selector);
  if (!row) return false;
  const box = row.getBoundingClientRect();
  const hit = document.elementFromPoint(box.x + 20, box.y + box.height / 2);
  return hit?.closest('tr')?.dataset.jobId === id;
}"""


@pytest.fixture
def url(served_monitor: Serve, app: Celery) -> str:
    write_a_bit_of_everything(app)
    return served_monitor().url


def test_at_420_px_nothing_overflows_and_the_detail_is_a_closable_sheet(
        url: str, new_tab: Callable[..., Tab]) -> None:
    tab = new_tab(viewport=NARROW)
    tab.page.goto(url)
    assert tab.page.evaluate(OVERFLOW) <= 420  # the sign-in screen
    tab.sign_in(url, "operator")
    row = tab.page.locator(tab.row("a11y-running"))
    expect(row).to_be_visible()
    for name in TABS:
        show_tab(tab, name)
        assert tab.page.evaluate(OVERFLOW) <= 420, f"the {name} tab overflows"
    show_tab(tab, "live")
    table = tab.page.locator("#live-table")
    assert table.evaluate("t => t.closest('.pane').scrollWidth > t.closest('.pane').clientWidth")
    row.click()
    detail = tab.page.locator("#detail")
    expect(detail).to_be_visible()
    box = detail.bounding_box()
    assert box is not None and box["x"] == 0 and box["width"] == 420  # a sheet over the page
    close = tab.page.locator("#detail-close")
    expect(close).to_be_visible()
    assert tab.page.evaluate(OVERFLOW) <= 420
    close.click()
    expect(detail).to_be_hidden()
    # the table is there again: its row is what the pointer reaches at its centre (the
    # rectangle and the hit test are read together in the page, polled: the live table
    # may re-render or scroll back between two round trips)
    tab.page.wait_for_function(ROW_REACHED, arg=[tab.row("a11y-running"), "a11y-running"],
                               timeout=5000)
    assert tab.errors == []


def has_theme(tab: Tab, name: str) -> None:
    expect(tab.page.locator("html")).to_have_attribute("data-theme", name)


def background(tab: Tab) -> str:
    return str(tab.page.evaluate("getComputedStyle(document.body).backgroundColor"))


def contrast(tab: Tab, selector: str, prop: str) -> float:
    """The contrast ratio of an element's colour (``prop``) against the card's background."""
    return float(tab.page.evaluate("""([selector, prop]) => {
      const rgb = (text) => text.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
      const lum = ([r, g, b]) => [r, g, b].map((c) => c / 255)
        .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
        .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
      const node = document.querySelector(selector);
      const a = lum(rgb(getComputedStyle(node)[prop]));
      const b = lum(rgb(getComputedStyle(node.closest('.card')).backgroundColor));
      return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    }""", [selector, prop]))


@pytest.mark.parametrize("system", ["dark", "light"])
def test_the_theme_follows_the_system_until_chosen_and_the_choice_is_remembered(
        url: str, new_tab: Callable[..., Tab], system: str) -> None:
    tab = new_tab(color_scheme=system)
    tab.sign_in(url, "viewer")
    has_theme(tab, system)
    expect(tab.page.locator("#theme-choice")).to_have_value("system")
    system_background = background(tab)
    other = "light" if system == "dark" else "dark"
    tab.page.select_option("#theme-choice", other)
    has_theme(tab, other)
    assert background(tab) != system_background
    tab.page.reload()
    has_theme(tab, other)
    expect(tab.page.locator("#theme-choice")).to_have_value(other)
    for scheme in (system, other):  # the charts' text and lines stay readable in both
        tab.page.select_option("#theme-choice", scheme)
        show_tab(tab, "metrics")
        expect(tab.page.locator("#chart-throughput svg text").first).to_be_visible()
        assert contrast(tab, "#chart-throughput svg text", "fill") >= 4.5
        assert contrast(tab, "#pane-live th", "color") >= 4.5
    tab.page.select_option("#theme-choice", "system")
    has_theme(tab, system)
    tab.page.emulate_media(color_scheme=other)  # the system setting changes: the page follows
    has_theme(tab, other)
    assert tab.errors == []


TOKYO = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\+9$")
UTC = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")


def shown_times(tab: Tab) -> list[str]:
    return [str(t) for t in tab.page.locator("time[data-zoned]").all_text_contents()]


def test_every_time_names_its_zone_and_the_switch_turns_them_all_to_utc(
        url: str, new_tab: Callable[..., Tab]) -> None:
    tab = new_tab(timezone_id="Asia/Tokyo")
    tab.sign_in(url, "operator")
    expect(tab.page.locator("#zone-choice option[value=local]")).to_have_text("local (GMT+9)")
    tab.page.click(tab.row("a11y-running"))
    created = tab.page.locator("#detail-body .kv", has_text="Created").locator("time")
    expect(created).to_have_text(TOKYO)
    local_hour = int(created.inner_text()[11:13])
    show_tab(tab, "alerts")
    expect(tab.page.locator("#alerts-list time")).to_have_count(2)  # first and last seen
    show_tab(tab, "metrics")
    expect(tab.page.locator("#metrics-span time")).not_to_have_count(0)
    axis = tab.page.locator("#chart-throughput .axis-label").last
    expect(axis).to_have_text("time (GMT+9)")
    expect(tab.page.locator("#chart-throughput circle title").first).to_contain_text("GMT+9")
    times = shown_times(tab)
    assert len(times) >= 5 and all(TOKYO.match(t) for t in times), times

    tab.page.select_option("#zone-choice", "utc")
    times = shown_times(tab)
    assert len(times) >= 5 and all(UTC.match(t) for t in times), times
    expect(created).to_have_text(UTC)
    assert int(created.inner_text()[11:13]) == (local_hour - 9) % 24
    expect(axis).to_have_text("time (UTC)")
    expect(tab.page.locator("#chart-throughput circle title").first).to_contain_text("UTC")
    tab.page.reload()  # remembered
    tab.wait_live()
    expect(tab.page.locator("#zone-choice")).to_have_value("utc")
    show_tab(tab, "history")
    expect(tab.page.locator("#history-table time")).to_have_text(UTC)
    assert tab.errors == []


def test_predictions_show_where_people_look_starts_in_slow_and_done_in(
        url: str, app: Celery, new_tab: Callable[..., Tab]) -> None:
    from regiq_tasks.tracking.tracker import get_tracker
    from tests.test_predict import pipeline_with_two_planned_steps, seed, start

    store, now = get_tracker(app).store, time.time()
    seed(store, "ingest", [8.0 + 4.0 * i / 39 for i in range(40)])  # p50 ~10 s, p99 ~12 s
    start(store, "pred-late", "ingest", 100.0, now - 101)
    start(store, "pred-queued", "ingest", None, now - 1)
    pipeline_with_two_planned_steps(store, "pred-pipe", now)
    tab = new_tab().sign_in(url, "viewer")
    expect(tab.page.locator(tab.row("pred-late") + " .slow")).to_have_text("slow")
    expect(tab.page.locator(tab.row("pred-queued") + " .eta")).to_contain_text("starts in ~")
    tab.page.click(tab.row("pred-pipe"))
    tab.page.click("#detail .pipeline-link")
    expect(tab.page.locator("#pipeline-eta")).to_have_text(
        re.compile(r"done in ~\d+\.\d s \(\d+\.\d s - \d+\.\d s\)"))

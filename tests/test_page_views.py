"""The page's other views in real Chromium: connection health, pipeline, history, metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from celery import Celery
from playwright.sync_api import Locator, Route, expect

from regiq_tasks import get_performance
from regiq_tasks.history import repository
from regiq_tasks.metrics.snapshots import take_snapshots
from regiq_tasks.monitor.api.errors import error_body
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
    tab.page_through("history", (20, 5), ("h-24", "h-00"))
    tab.page.select_option("#history-status", "failed")
    expect(tab.page.locator("#history-empty")).to_be_visible()


# (job type, final status) finished in each of the last three minutes, oldest first
MINUTES = ((("fetch", "succeeded"), ("fetch", "succeeded"), ("parse", "failed")),
           (("fetch", "succeeded"), ("parse", "succeeded")),
           (("fetch", "failed"), ("parse", "succeeded"), ("parse", "succeeded"),
            ("parse", "failed")))
XSS_TYPE = "<img src=x onerror=alert(1)>"


def write_three_minutes(app: Celery, jobs: JobWriter) -> None:
    """The jobs of MINUTES, with the counters copied at each minute boundary as a
    worker's snapshot duty does: the 1h window starts at the first copy and its series
    has a point per minute."""
    tracker = get_tracker(app)
    now = time.time()
    for ago, minute in zip((180, 120, 60), MINUTES):
        take_snapshots(tracker.redis, tracker.keys, 35, now=now - ago)
        for n, (job_type, status) in enumerate(minute):
            jobs.run(f"{job_type}-{ago}-{n}", job_type, status=status)
    take_snapshots(tracker.redis, tracker.keys, 35, now=now)


@pytest.fixture
def metrics_table(served_monitor: Serve, tab: Tab, jobs: JobWriter, app: Celery) -> Locator:
    """The table of the Metrics tab, open for a viewer, after the jobs of MINUTES."""
    url = served_monitor().url
    write_three_minutes(app, jobs)
    tab.sign_in(url, "viewer")
    return open_metrics(tab)


def open_metrics(tab: Tab) -> Locator:
    tab.page.click('.tab[data-tab="metrics"]')
    return tab.page.locator("#metrics-table")


def type_row(table: Locator, job_type: str) -> Locator:
    return table.locator("tbody tr").filter(has=table.page.get_by_role(
        "cell", name=job_type, exact=True))


def shown_seconds(value: float | None) -> str:
    """What the page shows for a duration under a minute (dom.js ``seconds``)."""
    if value is None:
        return "–"
    if value < 0.01:
        return f"{value * 1000:.1f} ms"
    return f"{round(value * 1000)} ms" if value < 1 else f"{value:.1f} s"


def test_the_metrics_tab_shows_each_types_outcomes_now_and_over_the_window(
        metrics_table: Locator, tab: Tab, jobs: JobWriter) -> None:
    table = metrics_table
    jobs.queued("busy", "fetch")
    jobs.running("busy")
    jobs.queued("waiting", "index")  # active now, nothing finished: a row of its own
    expect(tab.page.locator("#metrics-window")).to_have_text("1h")
    for job_type, finished, failure, running, queued in (
            ("fetch", "4", "25%", "1", "0"), ("parse", "5", "40%", "0", "0"),
            ("index", "0", "–", "0", "1")):
        row = type_row(table, job_type)
        for cell, text in (("finished", finished), ("failure", failure),
                           ("running", running), ("queued", queued)):
            expect(row.locator(f"td.{cell}")).to_have_text(text)
    totals = table.locator("tfoot tr.totals")
    expect(totals.locator("td.finished")).to_have_text("9")
    expect(totals.locator("td.failure")).to_have_text("33.3%")
    expect(totals.locator("td.running")).to_have_text("1")
    expect(tab.page.locator("#metrics-empty")).to_be_hidden()
    # a point a minute: finished 3, 2, 4 and failed 1, 0, 2 (then maybe an empty minute)
    throughput = tab.page.locator("#chart-throughput")
    expect(throughput.locator("polyline.finished")).to_have_count(1)
    expect(throughput.locator("circle.finished title")).to_contain_text([": 3", ": 2", ": 4"])
    expect(throughput.locator("circle.failed title")).to_contain_text([": 1", ": 0", ": 2"])
    expect(throughput.locator(".axis-label")).to_have_text(
        ["jobs per 1 min", re.compile(r"^time \((UTC|GMT[+-]?[\d:]*)\)$")])
    ticks = throughput.locator(".time-tick")  # a tick a minute over these 3 to 4 minutes
    expect(ticks).not_to_have_count(0)
    labels = ticks.all_text_contents()
    assert 3 <= len(labels) <= 5 and len(set(labels)) == len(labels)
    durations = tab.page.locator("#chart-duration")
    for line in ("p50", "p95"):
        expect(durations.locator(f"polyline.{line}")).to_have_count(1)
        expect(durations.locator(f"circle.{line}")).to_have_count(3)  # minutes with jobs
    assert tab.errors == []


def test_switching_the_window_reads_it_again_and_an_older_answer_never_wins(
        metrics_table: Locator, tab: Tab) -> None:
    table = metrics_table
    label, span = tab.page.locator("#metrics-window"), tab.page.locator("#metrics-span")
    expect(span).to_contain_text("one chart point per 1 min")
    for window, step in (("7d", "2 h"), ("24h", "15 min"), ("5m", "1 min")):
        tab.page.click(f'#metrics-windows button[data-window="{window}"]')
        expect(label).to_have_text(window)
        expect(span).to_contain_text(f"one chart point per {step}")
        expect(tab.page.locator(f'button[data-window="{window}"]')).to_have_attribute(
            "aria-pressed", "true")
        expect(type_row(table, "parse").locator("td.finished")).to_have_text("5")
    # the answer for 1h is held back until 24h is shown: it must not replace it
    held: list[Route] = []
    tab.page.route(lambda address: "window=1h" in address, lambda route: held.append(route))
    tab.page.evaluate("""() => { window.shownWindows = [];
      new MutationObserver(() => window.shownWindows.push(
          document.querySelector('#metrics-window')?.textContent)).observe(
        document.querySelector('#metrics-span'), {childList: true, subtree: true}); }""")
    tab.page.click('#metrics-windows button[data-window="1h"]')
    expect(tab.page.locator("#metrics")).to_have_attribute("aria-busy", "true")
    tab.page.click('#metrics-windows button[data-window="24h"]')
    expect(label).to_have_text("24h")
    with tab.page.expect_response(lambda response: "window=1h" in response.url):
        held[0].continue_()
    with tab.page.expect_response(lambda response: "window=24h" in response.url):
        tab.page.click('#metrics-windows button[data-window="24h"]')  # a later round trip
    expect(label).to_have_text("24h")
    assert "1h" not in tab.page.evaluate("window.shownWindows")
    assert tab.errors == []


def test_the_metrics_tab_shows_what_get_performance_answers_and_refreshes_itself(
        metrics_table: Locator, jobs: JobWriter, app: Celery) -> None:
    table = metrics_table
    expect(type_row(table, "fetch").locator("td.finished")).to_have_text("4")
    doc = get_performance(window="1h", app=app)
    rows = [(type_row(table, t["type"]), t) for t in doc["types"]]
    for row, figures in [*rows, (table.locator("tfoot tr.totals"), doc["totals"])]:
        failed = figures["failed"] + figures["lost"]
        expect(row.locator("td.finished")).to_have_text(str(figures["count"]))
        expect(row.locator("td.failure")).to_have_text(
            f"{round(100 * failed / figures['count'], 1):g}%")
        for cell, value in (("duration-p50", figures["duration_s"]["p50"]),
                            ("duration-p95", figures["duration_s"]["p95"]),
                            ("wait-p50", figures["queue_wait_s"]["p50"]),
                            ("wait-p95", figures["queue_wait_s"]["p95"])):
            expect(row.locator(f"td.{cell}")).to_have_text(shown_seconds(value))
        # per minute over a span that grew by the seconds between the two reads
        rate = float(row.locator("td.rate").text_content() or "nan")
        assert rate == pytest.approx(figures["throughput_per_min"], rel=0.1)
        incoming = float(row.locator("td.incoming").text_content() or "nan")
        assert incoming == pytest.approx(figures["published_per_min"], rel=0.1)
    jobs.run("one-more", "fetch")  # the shown tab reads the window again by itself
    expect(type_row(table, "fetch").locator("td.finished")).to_have_text("5")
    expect(table.locator("tfoot td.finished")).to_have_text("10")


def test_the_metrics_tab_says_when_nothing_finished_and_shows_api_errors(
        served_monitor: Serve, tab: Tab) -> None:
    url = served_monitor().url
    tab.sign_in(url, "viewer")
    open_metrics(tab)
    expect(tab.page.locator("#metrics-empty")).to_have_text("No jobs finished in this window.")
    for chart in ("#chart-throughput", "#chart-duration"):
        expect(tab.page.locator(chart)).to_have_text("No jobs finished in this window.")
    expect(tab.page.locator("#metrics-table tfoot td.finished")).to_have_text("0")
    tab.page.route("**/status/metrics/performance*", lambda route: route.fulfill(
        status=503, json=error_body(503, "live store unreachable")))
    tab.page.click('#metrics-windows button[data-window="24h"]')
    expect(tab.page.locator("#metrics-error")).to_have_text(
        "Metrics not loaded: live store unreachable")
    expect(tab.page.locator("#metrics-table tfoot tr")).to_have_count(0)  # 1h's are gone
    expect(tab.page.locator("#chart-throughput")).to_have_text("No figures for this window.")
    assert tab.errors == []


def test_a_job_type_made_of_markup_is_shown_as_text_in_the_metrics_tab(
        served_monitor: Serve, tab: Tab, jobs: JobWriter) -> None:
    url = served_monitor().url
    jobs.run("xss-type", XSS_TYPE, status="failed")
    tab.sign_in(url, "viewer")
    row = type_row(open_metrics(tab), XSS_TYPE)
    expect(row.locator("td.type")).to_have_text(XSS_TYPE)
    expect(row.locator("td.failure")).to_have_text("100%")
    assert tab.page.locator("img").count() == 0
    assert tab.dialogs == [] and tab.errors == []

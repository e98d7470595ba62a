"""The Workers tab in real Chromium.

Real prefork workers sample themselves every half second into this test's keys; the
served monitor emits the `metrics` event every half second. A worker whose name and
disk path hold markup is written straight through the resources store (a worker's
name comes from its hostname or ``-n``, which will not take one). ``tab`` comes after
the workers in the arguments: it is torn down first, so its screenshot shows them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from celery import Celery
from playwright.sync_api import Locator, Request, expect

from regiq_tasks.resources.store import SampleStore
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import ServedMonitor
from tests.fixtures.page import Tab
from tests.fixtures.services import PreforkWorker
from tests.fixtures.waiting import wait_for

Serve = Callable[..., ServedMonitor]
INTERVAL = 0.5  # s: how often the workers here sample themselves
XSS = "<img src=x onerror=alert(1)>"
THREE_OR_MORE = re.compile(r"^([3-9]|\d{2,})$")


def sampling(ttl: float = 3600) -> dict[str, str]:
    """The environment of a worker sampling every INTERVAL s, forgotten ``ttl`` s after."""
    return {"REGIQ_SAMPLE_INTERVAL": str(INTERVAL), "REGIQ_WORKER_TTL": str(ttl)}


@pytest.fixture
def url(served_monitor: Serve) -> str:
    return served_monitor(REGIQ_LIVE_METRICS_INTERVAL=0.5).url


def open_workers(tab: Tab, url: str) -> None:
    tab.sign_in(url, "viewer")
    tab.page.click('.tab[data-tab="workers"]')
    expect(tab.page.locator('.tab[data-tab="workers"]')).to_have_attribute("aria-selected", "true")


def samples_read(name: str) -> Callable[[Request], bool]:
    """Whether a request reads the samples of the worker ``name``."""
    return lambda request: urlsplit(request.url).path == f"/status/workers/{quote(name)}"


def samples_asked(request: Request) -> int:
    return int(parse_qs(urlsplit(request.url).query)["samples"][0])


def card(tab: Tab, name: str) -> Locator:
    return tab.page.locator(f'.worker-card[data-worker="{name}"]')


@pytest.mark.prefork
def test_a_workers_card_shows_its_pool_resources_host_and_sparklines(
        url: str, app: Celery, prefork_worker: Callable[..., PreforkWorker], tab: Tab) -> None:
    worker = prefork_worker(app, env=sampling())
    with tab.page.expect_request(samples_read(worker.name)) as first:
        open_workers(tab, url)
    assert samples_asked(first.value) == 3600  # the last hour, at most what the API gives
    box = card(tab, worker.name)
    expect(box).to_have_attribute("data-alive", "true")
    expect(box.locator(".worker-name")).to_have_text(worker.name)
    expect(box.locator(".worker-state")).to_have_text("alive")
    expect(box.locator(".worker-seen")).to_have_count(0)
    expect(box.locator(".worker-pool")).to_have_text("prefork")
    expect(box.locator(".worker-busy")).to_have_text("0 / 2")
    expect(box.locator(".worker-cpu")).to_have_text(re.compile(r"^\d+%$"))
    expect(box.locator(".worker-rss")).to_have_text(re.compile(r"^\d+\.\d MiB$"))
    expect(box.locator(".host-name")).not_to_be_empty()
    expect(box.locator(".host-use")).to_have_text(
        re.compile(r"^CPU \d+% · memory \d+% · swap \d+%$"))
    expect(box.locator(".host-load")).to_have_text(
        re.compile(r"^\d+\.\d\d · \d+\.\d\d · \d+\.\d\d$"))
    disks = box.locator("tr.disk")
    expect(disks).not_to_have_count(0)
    expect(disks.first.locator(".disk-used")).to_have_text(re.compile(r"^\d+\.\d% used$"))
    expect(disks.first.locator(".disk-free")).to_have_text(re.compile(r" [KMGT]?i?B free$"))
    # the sparklines: the samples read over REST, then one more point per metrics event
    for spark in ("spark-cpu", "spark-rss"):
        line = box.locator(f"svg.{spark}")
        expect(line).to_have_attribute("data-points", THREE_OR_MORE)
        expect(line.locator("polyline")).not_to_have_count(0)
        expect(line.locator("circle.spark-dot")).to_have_count(1)
        expect(line.locator("title")).to_contain_text("now")
    expect(tab.page.locator("#workers-count")).to_have_text("1 worker, 1 alive")
    expect(tab.page.locator("#workers-empty")).to_be_hidden()

    # a job runs: busy rises on the card and falls again, live (the metrics events)
    result = app.tasks["t.sleep"].delay(3.0)
    expect(box.locator(".worker-busy")).to_have_text("1 / 2")
    expect(box.locator('.bar[role="progressbar"]')).to_have_attribute("aria-valuenow", "50.0")
    assert result.get(timeout=30) == 3.0
    expect(box.locator(".worker-busy")).to_have_text("0 / 2")

    # the tab reads again every 15 s, asking only for the samples taken since
    with tab.page.expect_request(samples_read(worker.name), timeout=25_000) as again:
        pass
    assert samples_asked(again.value) <= 60  # about 15 s at 0.5 s, and a few more
    assert tab.errors == []


@pytest.mark.prefork
def test_a_killed_worker_turns_gone_live_then_leaves(
        url: str, app: Celery, prefork_worker: Callable[..., PreforkWorker], tab: Tab) -> None:
    keeper = prefork_worker(app, env=sampling())
    doomed = prefork_worker(app, env=sampling(ttl=6))
    open_workers(tab, url)
    tab.page.evaluate("window.__sameDocument = true")
    for w in (keeper, doomed):
        expect(card(tab, w.name)).to_have_attribute("data-alive", "true")
    expect(tab.page.locator("#workers-count")).to_have_text("2 workers, 2 alive")

    doomed.kill()  # SIGKILL: nothing says goodbye
    gone = card(tab, doomed.name)
    expect(gone).to_have_attribute("data-alive", "false")
    expect(gone.locator(".worker-state")).to_have_text("gone")
    expect(gone.locator(".worker-seen")).to_have_text(re.compile(r"^last seen \d+ s ago$"))
    expect(tab.page.locator("#workers-count")).to_have_text("2 workers, 1 alive")
    expect(card(tab, keeper.name)).to_have_attribute("data-alive", "true")
    # once its samples expired (its TTL) the card goes away, the keeper's stays
    expect(gone).to_have_count(0, timeout=20_000)
    expect(card(tab, keeper.name)).to_have_count(1)
    assert tab.page.evaluate("window.__sameDocument") is True  # never reloaded
    assert tab.errors == []


def redis_seconds(app: Celery) -> float:
    seconds, micros = get_tracker(app).redis.time()
    return int(seconds) + int(micros) / 1e6


def markup_worker(app: Celery, **figures: Any) -> None:
    """A sample of a worker named XSS whose first disk path holds markup and is 95% full
    (through the store, as a worker's sampler writes it), stamped a millisecond after
    the one before: a sample is known by its time, and a real worker never writes two in
    one millisecond."""
    disks = [{"path": "<b>/data</b>", "used_percent": 95.0, "free_bytes": 5 * 2**30,
              "total_bytes": 100 * 2**30},
             {"path": "/tmp", "used_percent": 50.0, "free_bytes": 50 * 2**30,
              "total_bytes": 100 * 2**30}]
    sample = {"name": XSS, "pool": "<i>threads</i>", "concurrency": 4, "busy": 1,
              "cpu_percent": 12.0, "rss_bytes": 200 * 2**20, "processes": 1, "open_files": 9,
              "pid": 1, "started_at": None, "interval_s": 60.0,
              "host": {"name": "<u>host</u>", "cpus": 2, "cpu_percent": 30.0,
                       "memory_percent": 40.0, "memory_total_bytes": 2**33,
                       "swap_percent": 0.0, "load_1m": 0.5, "load_5m": 0.4, "load_15m": 0.3,
                       "disk": disks}, **figures}
    compact = {"busy": 1, "cpu_percent": sample["cpu_percent"], "rss_bytes": sample["rss_bytes"],
               "open_files": 9, "host_cpu_percent": 30.0, "host_memory_percent": 40.0,
               "host_swap_percent": 0.0, "load_1m": 0.5, "disk_used_percent": 95.0}
    tracker = get_tracker(app)
    at = SampleStore(tracker.redis, tracker.keys).write(XSS, sample, compact, 600)
    wait_for(lambda: redis_seconds(app) >= at + 0.001, 1, "the next millisecond in Redis")


def test_worker_text_is_shown_as_text_and_a_full_disk_warns(
        url: str, tab: Tab, app: Celery) -> None:
    open_workers(tab, url)
    expect(tab.page.locator("#workers-empty")).to_be_visible()  # no worker reports
    expect(tab.page.locator("#workers-count")).to_have_text("0 workers, 0 alive")
    for cpu in (10.0, 30.0, 20.0):
        markup_worker(app, cpu_percent=cpu)
    box = tab.page.locator(".worker-card")
    expect(box).to_have_count(1)  # arrives with a metrics event, no reload
    expect(tab.page.locator("#workers-empty")).to_be_hidden()
    expect(box).to_have_attribute("data-worker", XSS)
    expect(box.locator(".worker-name")).to_have_text(XSS)
    expect(box.locator(".worker-pool")).to_have_text("<i>threads</i>")
    expect(box.locator(".host-name")).to_have_text("<u>host</u>")
    expect(box.locator(".worker-busy")).to_have_text("1 / 4")
    expect(box.locator(".disk-path")).to_have_text(["<b>/data</b>", "/tmp"])
    expect(box.locator("tr.disk.warn")).to_have_count(1)
    expect(box.locator("tr.disk.warn .disk-path")).to_have_text("<b>/data</b>")
    expect(box.locator("tr.disk.warn .disk-used")).to_have_text("95.0% used")
    expect(box.locator("tr.disk.warn .disk-free")).to_have_text("5.0 GiB free")
    expect(box.locator("svg.spark-cpu")).to_have_attribute("data-points", "3")
    expect(box.locator("svg.spark-cpu title")).to_contain_text("now 20%")
    expect(box.locator("svg.spark-cpu title")).to_contain_text("highest 30%")
    assert box.locator("img, b, i, u").count() == 0
    assert tab.dialogs == [] and tab.errors == []

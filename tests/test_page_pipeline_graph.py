"""The pipeline view's graph in real Chromium: every planned step with its status, live,
and a pipeline cancelled from the page. A served monitor process and a real in-thread
worker; each test leaves a screenshot in ``test-artifacts/``."""

from __future__ import annotations

import uuid
from typing import Any

from celery import Celery, chain
from playwright.sync_api import expect

from regiq_tasks import cancel_pipeline
from tests.fixtures.page import Tab
from tests.fixtures.services import status_or_none as status_of
from tests.fixtures.waiting import wait_for


def open_pipeline(tab: Tab, url: str, role: str, head: str) -> Any:
    """Sign in, open the pipeline of job ``head`` from its detail; the graph's nodes."""
    tab.sign_in(url, role)
    tab.page.click(tab.row(head))
    tab.page.click("#detail .pipeline-link")
    return tab.page.locator("#pipeline-view .pg-node")


def test_the_graph_shows_every_planned_step_and_follows_the_pipeline_live(
        served_url: str, tab: Tab, app: Celery, worker: Any) -> None:
    # Given a 3-step chain whose first step runs for a while
    t = app.tasks
    first = t["t.cooperative"].si(60, 0.05, f"fin-{uuid.uuid4().hex}")
    result = chain(first, t["t.add"].si(1, 1), t["t.add"].s(2)).apply_async()
    head = result.parent.parent.id
    wait_for(lambda: status_of(app, head) == "running", 20, "the first step to run")
    # When its pipeline view is opened, every step is a node: the later ones pending
    nodes = open_pipeline(tab, served_url, "viewer", head)
    expect(nodes).to_have_count(3)
    expect(nodes.nth(0)).to_have_attribute("data-status", "running")
    expect(nodes.nth(1)).to_have_attribute("data-status", "pending")
    expect(nodes.nth(2)).to_have_attribute("data-status", "pending")
    expect(nodes.nth(2)).to_be_disabled()
    expect(tab.page.locator("#pipeline-total")).to_have_text("3 jobs")
    # Then, as the links are published and run, the nodes turn into jobs and recolour
    for i in range(3):
        expect(nodes.nth(i)).to_have_attribute("data-status", "succeeded", timeout=20_000)
    expect(nodes.nth(2)).to_have_attribute("data-job-id", result.id)
    expect(tab.page.locator("#pipeline-percent")).to_have_text("100.0%")
    # And a click on a node opens its job
    nodes.nth(1).click()
    expect(tab.page.locator("#detail")).to_contain_text(result.parent.id)
    assert tab.errors == []


def test_cancel_from_the_view_stops_later_links_and_their_nodes_show_cancelled(
        served_url: str, tab: Tab, app: Celery, prefix: str, worker: Any) -> None:
    marker = f"{prefix}later-ran"
    t = app.tasks
    result = chain(t["t.checker"].si(30), t["t.add"].si(1, 1), t["t.mark"].si(marker)).apply_async()
    head = result.parent.parent.id
    wait_for(lambda: status_of(app, head) == "running", 20, "the first link to run")
    nodes = open_pipeline(tab, served_url, "operator", head)
    expect(nodes).to_have_count(3)
    expect(nodes.nth(1)).to_have_attribute("data-status", "pending")
    tab.page.fill("#pipeline-cancel-reason", "batch withdrawn")
    tab.page.click("#pipeline-cancel-button")
    expect(tab.page.locator("#pipeline-cancel-result")).to_contain_text("Pipeline cancelled")
    for i in range(3):
        expect(nodes.nth(i)).to_have_attribute("data-status", "cancelled", timeout=20_000)
    wait_for(lambda: status_of(app, head) == "cancelled", 20, "the running link to stop")
    expect(tab.page.locator("#pipeline-percent")).to_have_text("100.0%")
    expect(tab.page.locator("#pipeline-cancel-form")).to_be_hidden()
    assert status_of(app, result.id) in (None, "cancelled")
    assert app.backend.client.get(marker) is None
    assert tab.errors == []


def test_the_pipeline_link_of_a_running_job_survives_its_updates(
        served_url: str, tab: Tab, app: Celery, worker: Any) -> None:
    """The detail is redrawn with every progress update; its links are the same elements
    from one drawing to the next, so a click pressed on one drawing and released on the
    next still opens the pipeline."""
    t = app.tasks
    first = t["t.cooperative"].si(400, 0.05, f"fin-{uuid.uuid4().hex}")
    result = chain(first, t["t.add"].si(1, 1)).apply_async()
    head = result.parent.id
    wait_for(lambda: status_of(app, head) == "running", 20, "the first step to run")
    tab.sign_in(served_url, "viewer")
    tab.page.click(tab.row(head))
    message = tab.page.locator("#detail-body dd", has_text="step ").first
    expect(message).to_be_visible()
    before = message.inner_text()
    tab.page.eval_on_selector("#detail .pipeline-link", "(a) => { a.dataset.marked = 'yes'; }")
    expect(message).not_to_have_text(before)  # redrawn by a progress update
    expect(tab.page.locator("#detail .pipeline-link")).to_have_attribute("data-marked", "yes")
    tab.page.click("#detail .pipeline-link")
    expect(tab.page.locator("#pipeline-view .pg-node")).to_have_count(2)
    cancel_pipeline(head, "test over", app=app)  # the step checks at each progress
    wait_for(lambda: status_of(app, head) == "cancelled", 20, "the running step to stop")
    assert tab.errors == []

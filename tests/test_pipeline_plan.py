"""Pipelines count what is planned: chains, groups, chords and nested canvases on a real
worker, with the steps not yet published as pending entries and the graph's shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, chain, chord, group

from regiq_tasks import cancel_pipeline, get_pipeline
from regiq_tasks.housekeeping.archive import Archiver
from regiq_tasks.store.keys import Keys
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.services import BROKERS
from tests.fixtures.waiting import wait_for

# Against both brokers users run (issue 15): Redis and RabbitMQ.
pytestmark = pytest.mark.parametrize("broker", BROKERS, indirect=True)


def shape(pipeline: dict[str, Any], node: dict[str, Any] | None = None) -> Any:
    """The graph with each task node as its job's status (for comparing shapes)."""
    node = pipeline["graph"] if node is None else node
    kind = node["kind"]
    if kind == "task":
        return pipeline["jobs"][node["job"]]["status"]
    if kind == "chord":
        return {"chord": [shape(pipeline, n) for n in node["header"]],
                "body": shape(pipeline, node["body"])}
    key = "steps" if kind == "chain" else "members"
    return {kind: [shape(pipeline, n) for n in node[key]]}


def first_id(result: Any) -> str:
    """The id of a canvas's first step (a chain's pipeline id)."""
    while result.parent is not None:
        result = result.parent
    return str(result.id)


@pytest.fixture
def stop_later(app: Celery) -> Iterator[list[str]]:
    """Pipelines to cancel at teardown (so that a failed test leaves no job running)."""
    pids: list[str] = []
    yield pids
    for pid in pids:
        cancel_pipeline(pid, "test over", terminate=True, app=app)


def pipeline_when(app: Celery, pipeline_id: str, predicate: Any, what: str) -> dict[str, Any]:
    """The pipeline once ``predicate`` holds for it."""
    def read() -> dict[str, Any] | None:
        p = get_pipeline(pipeline_id, app=app)
        return p if p is not None and predicate(p) else None
    return wait_for(read, 20, what)


def test_a_chain_counts_its_steps_not_yet_published_as_pending(app: Celery, worker: Any,
        stop_later: list[str]) -> None:
    # Given a 4-step chain whose third step runs until cancelled
    t = app.tasks
    result = chain(t["t.add"].si(1, 1), t["t.add"].si(2, 2), t["t.checker"].si(30),
                   t["t.add"].si(3, 3)).apply_async()
    pid = first_id(result)
    stop_later.append(pid)
    # When the first two steps are done and the third runs
    p = pipeline_when(app, pid, lambda p: p["counts"].get("succeeded") == 2
                      and p["counts"].get("running") == 1, "step 3 running")
    # Then the pipeline has 4 jobs, 50%, the fourth pending with no id
    assert p["total_jobs"] == 4 and p["progress"]["percent"] == 50.0
    assert p["counts"] == {"succeeded": 2, "running": 1, "pending": 1}
    assert p["status"] == "running" and p["planned"] is True and p["finished_at"] is None
    pending = p["jobs"][3]
    assert pending["id"] is None and pending["status"] == "pending"
    assert (pending["name"], pending["type"]) == ("t.add", "ingest")
    assert shape(p) == {"chain": ["succeeded", "succeeded", "running", "pending"]}
    # And when the pipeline is cancelled, the step never published shows cancelled
    cancel_pipeline(pid, "withdrawn", app=app)
    p = pipeline_when(app, pid, lambda p: p["status"] == "cancelled"
                      and not p["counts"].get("running"), "pipeline cancelled")
    assert shape(p) == {"chain": ["succeeded", "succeeded", "cancelled", "cancelled"]}
    assert p["total_jobs"] == 4 and p["progress"]["percent"] == 100.0


def test_a_finished_chain_has_no_pending_step_left(app: Celery, worker: Any) -> None:
    t = app.tasks
    result = chain(t["t.add"].si(1, 1), t["t.add"].s(2), t["t.add"].s(3)).apply_async()
    assert result.get(timeout=20) == 7
    p = pipeline_when(app, first_id(result), lambda p: p["status"] == "succeeded", "the end")
    assert p["total_jobs"] == 3 and p["progress"]["percent"] == 100.0
    assert [j["id"] for j in p["jobs"]] == [first_id(result), result.parent.id, result.id]
    assert shape(p) == {"chain": ["succeeded"] * 3}


def test_a_group_shows_its_members_side_by_side(app: Celery, worker: Any,
        stop_later: list[str]) -> None:
    t = app.tasks
    result = group(t["t.add"].si(1, 1), t["t.checker"].si(30), t["t.add"].si(2, 2)).apply_async()
    pid = result.id
    stop_later.append(pid)
    running = {"group": ["succeeded", "running", "queued"]}
    p = pipeline_when(app, pid, lambda p: shape(p) == running, "the second member running")
    assert p["total_jobs"] == 3 and "pending" not in p["counts"]
    cancel_pipeline(pid, "withdrawn", app=app)
    p = pipeline_when(app, pid, lambda p: not p["counts"].get("running")
                      and not p["counts"].get("queued"), "the end")
    assert shape(p) == {"group": ["succeeded", "cancelled", "cancelled"]}


def test_a_chord_body_is_pending_after_its_header_until_published(app: Celery,
                                                                   worker: Any,
        stop_later: list[str]) -> None:
    t = app.tasks
    result = chord([t["t.add"].si(1, 1), t["t.checker"].si(30)], t["t.total"].s()).apply_async()
    pid = result.parent.id  # the header's group id
    stop_later.append(pid)
    p = pipeline_when(app, pid, lambda p: p["counts"].get("succeeded") == 1
                      and p["counts"].get("running") == 1, "header running")
    assert p["total_jobs"] == 3 and p["counts"]["pending"] == 1
    assert p["progress"]["percent"] == round(100 / 3, 2)
    assert shape(p) == {"chord": ["succeeded", "running"], "body": "pending"}
    cancel_pipeline(pid, "withdrawn", app=app)
    p = pipeline_when(app, pid, lambda p: p["status"] == "cancelled"
                      and not p["counts"].get("running"), "cancelled")
    assert shape(p) == {"chord": ["succeeded", "cancelled"], "body": "cancelled"}


def test_a_finished_chord_resolves_its_body_to_the_job(app: Celery, worker: Any) -> None:
    t = app.tasks
    result = chord([t["t.add"].si(1, 1), t["t.add"].si(2, 2)], t["t.total"].s()).apply_async()
    assert result.get(timeout=20) == 6
    p = pipeline_when(app, result.parent.id, lambda p: p["status"] == "succeeded", "the end")
    assert shape(p) == {"chord": ["succeeded", "succeeded"], "body": "succeeded"}
    assert p["jobs"][p["graph"]["body"]["job"]]["id"] == result.id


NESTED_DONE = {"chain": ["succeeded", {"chord": ["succeeded", "succeeded"], "body": {
    "chord": ["succeeded", "succeeded"], "body": {"chain": ["succeeded", "succeeded"]}}}]}


def nested(app: Celery, first: Any) -> Any:
    """A chain holding a group and a chord (Celery makes the group a chord whose body is
    the rest of the chain)."""
    t = app.tasks
    return chain(first, group(t["t.add"].si(1, 2), t["t.add"].si(2, 3)),
                 chord([t["t.add"].si(1, 1), t["t.add"].si(2, 2)], t["t.total"].s()),
                 t["t.add"].s(0)).apply_async()


def test_a_nested_canvas_plans_every_step_while_its_first_runs(app: Celery,
                                                                worker: Any,
        stop_later: list[str]) -> None:
    result = nested(app, app.tasks["t.checker"].si(30))
    pid = first_id(result)
    stop_later.append(pid)
    p = pipeline_when(app, pid, lambda p: p["counts"].get("running") == 1, "first running")
    assert p["total_jobs"] == 7 and p["counts"] == {"running": 1, "pending": 6}
    assert p["progress"]["percent"] == 0.0
    assert shape(p) == {"chain": ["running", {"chord": ["pending"] * 2, "body": {
        "chord": ["pending"] * 2, "body": {"chain": ["pending"] * 2}}}]}
    cancel_pipeline(pid, "withdrawn", app=app)
    pipeline_when(app, pid, lambda p: p["counts"] == {"cancelled": 7}, "all cancelled")


def test_a_nested_canvas_resolves_every_step_at_the_end(app: Celery, worker: Any) -> None:
    result = nested(app, app.tasks["t.add"].si(1, 1))
    assert result.get(timeout=20) == 6
    p = pipeline_when(app, first_id(result), lambda p: p["status"] == "succeeded", "the end")
    assert p["total_jobs"] == 7 and p["progress"]["percent"] == 100.0
    assert shape(p) == NESTED_DONE
    assert all(j["id"] for j in p["jobs"])


def test_a_lone_task_records_no_plan_and_reads_as_one_step(app: Celery, worker: Any,
                                                           prefix: str) -> None:
    result = app.tasks["t.add"].delay(1, 2)
    assert result.get(timeout=20) == 3
    p = pipeline_when(app, result.id, lambda p: p["status"] == "succeeded", "the end")
    assert p["planned"] is False and p["graph"] == {"kind": "task", "job": 0}
    assert not app.backend.client.exists(Keys(prefix).plan(result.id))


def test_the_plan_expires_with_its_jobs_and_history_reads_them_without_it(
        app: Celery, worker: Any, prefix: str) -> None:
    # Given a finished chain whose plan is in Redis with no expiry while its jobs are live
    t = app.tasks
    result = chain(t["t.add"].si(1, 1), t["t.add"].s(1)).apply_async()
    assert result.get(timeout=20) == 3
    pid = first_id(result)
    pipeline_when(app, pid, lambda p: p["status"] == "succeeded", "the end")
    tracker = get_tracker(app)
    client, key = tracker.store.client, Keys(prefix).plan(pid)
    assert client.ttl(key) == -1
    # When the archiver takes its jobs, the plan gets their safety expiry
    Archiver(tracker.store, tracker.engine, live_ttl=0).drain()
    assert client.ttl(key) > 0
    # And when the jobs leave the live store, the plan goes with the last of them
    wait_for(lambda: tracker.store.expire_due() == 0 and not client.exists(key), 10,
             "plan removed")
    p = get_pipeline(pid, app=app)
    assert p["planned"] is False and p["total_jobs"] == 2
    assert shape(p) == {"chain": ["succeeded", "succeeded"]}

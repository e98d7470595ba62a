"""Live updates against a served monitor: auth, rooms, metrics, coalescing, rate bound.

Every case runs ``python -m tests.fixtures.live`` (the monitor served by Flask-SocketIO's
own server on 127.0.0.1) and talks to it with python-socketio clients over WebSocket;
job changes are written through the live store exactly as workers write them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import socketio
from celery import Celery

from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import TOKENS, JobWriter, LiveClient, ServedMonitor
from tests.fixtures.waiting import wait_for

Serve = Callable[..., ServedMonitor]
MakeClient = Callable[[], LiveClient]


@pytest.fixture
def jobs(app: Celery) -> JobWriter:
    return JobWriter(get_tracker(app).store)


def _refused(url: str, token: str | None) -> bool:
    try:
        LiveClient().connect(url, token=token)
    except socketio.exceptions.ConnectionError:
        return True
    return False


def test_a_client_without_a_valid_token_is_refused(served_monitor: Serve,
                                                   live_client: MakeClient) -> None:
    monitor = served_monitor()
    tokens = (None, "", "wrong-token", "x" * 600)
    with ThreadPoolExecutor(len(tokens)) as pool:  # each refusal takes a while to close
        outcomes = list(pool.map(lambda t: _refused(monitor.url, t), tokens))
    assert outcomes == [True] * len(tokens)
    for role in ("viewer", "operator", "admin"):
        assert live_client().connect(monitor.url, token=TOKENS[role]).sio.connected


def test_bad_subscriptions_get_an_error_event_and_the_connection_stays(
        served_monitor: Serve, live_client: MakeClient) -> None:
    client = live_client().connect(served_monitor().url)
    bad: list[Any] = [None, "all", [], {}, {"all": False}, {"all": "yes"}, {"job_id": ""},
                      {"job_id": 5}, {"job_id": "x" * 256}, {"colour": "red"},
                      {"job_id": "a", "type": "b"}]
    for payload in bad:
        answer = client.sio.call("subscribe", payload, timeout=10)
        assert answer["ok"] is False and answer["error"]["code"] == "bad_request", payload
    assert client.sio.call("unsubscribe", {"nope": 1}, timeout=10)["ok"] is False
    errors = wait_for(lambda: len(client.received("error")) == len(bad) + 1 and
                      client.received("error"), 10, "an error event per bad payload")
    assert all(e["error"]["details"]["event"] in ("subscribe", "unsubscribe") for e in errors)
    assert client.subscribe(all=True) == {"ok": True, "room": "all"}
    assert client.sio.connected


def test_each_room_kind_receives_exactly_its_jobs(served_monitor: Serve, live_client: MakeClient,
                                                  jobs: JobWriter) -> None:
    url = served_monitor().url
    by_job, by_pipeline, by_root, by_type, everything = (
        live_client().connect(url) for _ in range(5))
    assert by_job.subscribe(job_id="j-x") == {"ok": True, "room": "job:j-x"}
    assert by_pipeline.subscribe(pipeline_id="p-1") == {"ok": True, "room": "pipeline:p-1"}
    assert by_root.subscribe(root_id="p-1") == {"ok": True, "room": "pipeline:p-1"}
    assert by_type.subscribe(type="score") == {"ok": True, "room": "type:score"}
    assert everything.subscribe(all=True) == {"ok": True, "room": "all"}
    jobs.run("j-x", "ingest", "p-0")
    jobs.run("j-y", "score", "p-1")
    jobs.run("j-z", "score", "p-2")
    wait_for(lambda: all(everything.last_status(j) == "succeeded"
                         for j in ("j-x", "j-y", "j-z")), 10, "every job seen by `all`")
    expected = {by_job: {"j-x"}, by_pipeline: {"j-y"}, by_root: {"j-y"},
                by_type: {"j-y", "j-z"}}
    for client, ids in expected.items():
        wait_for(lambda c=client, i=ids: all(c.last_status(j) == "succeeded" for j in i),
                 10, f"final states of {ids}")
        assert {r["id"] for _, r in client.updates()} == ids
    # a whole record is the REST record, predictions included (none for a final job)
    final = [r for _, r in everything.updates() if r.get("status") == "succeeded"]
    assert final and all(r["eta_basis"] is None and r["slow"] is False
                         and r["predicted_start_at"] is None for r in final)


def test_unsubscribed_clients_stop_receiving(served_monitor: Serve, live_client: MakeClient,
                                             jobs: JobWriter) -> None:
    url = served_monitor().url
    leaving, staying = live_client().connect(url), live_client().connect(url)
    for client in (leaving, staying):
        client.subscribe(type="ingest")
    assert leaving.sio.call("unsubscribe", {"type": "ingest"}, timeout=10)["ok"]
    jobs.run("j-1")
    wait_for(lambda: staying.last_status("j-1") == "succeeded", 10, "the staying client")
    assert leaving.updates() == []


def test_every_client_receives_metrics_without_subscribing(served_monitor: Serve,
                                                           live_client: MakeClient,
                                                           jobs: JobWriter) -> None:
    jobs.queued("m-q", "score")
    jobs.queued("m-r", "score")
    jobs.running("m-r")
    jobs.run("m-done", "ingest")
    client = live_client().connect(served_monitor(REGIQ_LIVE_METRICS_INTERVAL=0.2).url)
    metrics = wait_for(lambda: client.received("metrics"), 10, "a metrics event")[-1]
    # the document of GET /status/metrics/realtime (DESIGN.md)
    assert set(metrics) == {"at", "jobs", "by_type", "queues", "throughput", "workers"}
    assert metrics["jobs"]["queued"] == 1 and metrics["jobs"]["running"] == 1
    assert metrics["jobs"]["succeeded"] == 1
    assert metrics["by_type"]["score"] == {"queued": 1, "running": 1, "retrying": 0}
    assert metrics["throughput"]["finished_60s"] == 1
    assert metrics["workers"] == []
    assert all(set(q) == {"name", "depth", "oldest_wait_s", "consumers"}
               for q in metrics["queues"]) and metrics["queues"]


def test_several_changes_in_one_tick_arrive_as_one_ordered_list(
        served_monitor: Serve, live_client: MakeClient, jobs: JobWriter) -> None:
    client = live_client().connect(served_monitor(REGIQ_LIVE_TICK=0.5).url)
    client.subscribe(all=True)
    for n in range(5):
        jobs.queued(f"b-{n}")
    wait_for(lambda: len(client.updates()) >= 5, 10, "five queued jobs")
    lists = client.received("job_updates")
    assert lists and all([r["id"] for r in items] == sorted(r["id"] for r in items)
                         for items in lists)
    assert [r["id"] for _, r in client.updates()] == [f"b-{n}" for n in range(5)]


def test_a_job_reporting_1000_times_a_second_reaches_a_client_at_most_max_rate_times(
        served_monitor: Serve, live_client: MakeClient, jobs: JobWriter) -> None:
    max_rate = 5
    client = live_client().connect(served_monitor(REGIQ_LIVE_MAX_RATE=max_rate).url)
    client.subscribe(job_id="fast")
    jobs.queued("fast")
    jobs.running("fast")
    wait_for(lambda: client.last_status("fast") == "running", 10, "the running state")
    written, start = 0, time.monotonic()
    while written < 3000:  # 3,000 progress events, at most 1,000 a second
        jobs.progress("fast", written, 1_000_000)
        written += 1
        if written % 10 == 0:
            time.sleep(max(0.0, start + written / 1000 - time.monotonic()))
    elapsed = time.monotonic() - start
    jobs.finish("fast")
    wait_for(lambda: client.last_status("fast") == "succeeded", 10, "the final state")
    assert written / elapsed > 20 * max_rate  # far more often than the client may hear
    updates = client.updates("fast")
    progress = [at for at, r in updates if r["status"] == "running" and r["progress"]]
    for at in progress:  # any one-second window holds at most max_rate (+1 for jitter)
        assert sum(1 for t in progress if at <= t < at + 1.0) <= max_rate + 1
    assert len(progress) <= max_rate * (elapsed + 1) + 2
    assert updates[-1][1]["status"] == "succeeded"
    assert updates[-1][1]["progress"]["current"] == written - 1


def test_the_final_state_comes_last_even_within_one_tick(
        served_monitor: Serve, live_client: MakeClient, jobs: JobWriter) -> None:
    client = live_client().connect(served_monitor(REGIQ_LIVE_TICK=0.5).url)
    client.subscribe(job_id="quick")
    jobs.run("quick")
    wait_for(lambda: client.last_status("quick") == "succeeded", 10, "the final state")
    statuses = [r["status"] for _, r in client.updates("quick")]
    assert statuses[-1] == "succeeded" and statuses.count("succeeded") == 1
    # a progress step may arrive in its own tick while running: repeats are legitimate
    seen = [s for i, s in enumerate(statuses[:-1]) if i == 0 or s != statuses[i - 1]]
    assert seen == [s for s in ("queued", "running") if s in seen]


def test_updates_written_from_many_threads_all_end_in_their_final_state(
        served_monitor: Serve, live_client: MakeClient, jobs: JobWriter) -> None:
    client = live_client().connect(served_monitor().url)
    client.subscribe(all=True)

    def run(n: int) -> None:
        for i in range(5):
            jobs.run(f"t{n}-{i}", f"type{n % 3}")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    wanted = {f"t{n}-{i}" for n in range(8) for i in range(5)}
    wait_for(lambda: all(client.last_status(j) == "succeeded" for j in wanted), 15,
             "every job's final state")

"""What Flower's event state shows after a terminate: REVOKED, even when the killed pool
child's last ``task-progress`` event arrives after the worker's ``task-revoked``. Real
broker (Redis), a real process standing in for the pool child, and Celery's own
``celery.events.state.State`` fed by a real event receiver: what Flower runs."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import billiard
import pytest
from celery import Celery
from celery.events.state import State

from regiq_tasks.cancel.revokes import RevokedAfterExit, announce_revoked
from tests.fixtures.services import BROKERS
from tests.fixtures.waiting import wait_for


@pytest.fixture
def flower_state(app: Celery) -> Iterator[State]:
    """Celery's event state, fed by a receiver in a thread (what Flower keeps)."""
    state = State()
    with app.connection_for_read() as conn:
        receiver = app.events.Receiver(conn, handlers={"*": state.event})
        thread = threading.Thread(
            target=lambda: receiver.capture(limit=None, timeout=None, wakeup=False),
            daemon=True)
        thread.start()
        # wait until the receiver hears its own kind of event (the queue is bound)
        probe = f"probe-{uuid.uuid4()}"

        def heard() -> bool:
            with app.events.default_dispatcher(hostname="probe@test") as dispatcher:
                dispatcher.send("task-received", uuid=probe, name="probe")
            return probe in state.tasks
        wait_for(heard, 10, "the event receiver to be consuming", interval=0.2)
        yield state
        receiver.should_stop = True
        thread.join(5)


def shown(state: State, job_id: str) -> str | None:
    task = state.tasks.get(job_id)
    return task.state if task is not None else None


def test_a_late_progress_event_after_a_terminate_still_ends_revoked_in_flowers_state(
        app: Celery, flower_state: State) -> None:
    job_id = f"late-{uuid.uuid4()}"
    request = SimpleNamespace(id=job_id, hostname="w1@test")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with app.events.default_dispatcher(hostname="w1@test") as dispatcher:
            dispatcher.send("task-started", uuid=job_id)
        fields = {"terminated": True, "signum": "SIGTERM", "expired": False}
        announce_revoked(app, request, **fields)  # the worker's task-revoked ...
        wait_for(lambda: shown(flower_state, job_id) == "REVOKED", 10, "REVOKED shown")
        with app.events.default_dispatcher(hostname="w1@test") as dispatcher:
            dispatcher.send("task-progress", uuid=job_id, current=3, total=10)
        # ... then the child's last progress arrives: Celery's state ranks it higher
        wait_for(lambda: shown(flower_state, job_id) == "PROGRESS", 10, "PROGRESS shown")
        announcer = RevokedAfterExit(app)
        announcer.add(child.pid, request, fields)
        announcer()  # the child still runs: nothing is sent, it stays pending
        assert len(announcer._pending) == 1
        child.kill()
        child.wait(10)

        def revoked_again() -> bool:
            announcer()
            return shown(flower_state, job_id) == "REVOKED"
        wait_for(revoked_again, 10, "REVOKED shown again once the child is gone")
        assert announcer._pending == []
        task = flower_state.tasks[job_id]
        assert task.terminated is True and task.signum == "SIGTERM"
    finally:
        child.kill()
        child.wait(10)


def test_a_child_that_never_exits_is_announced_after_the_wait(
        app: Celery, flower_state: State, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("regiq_tasks.cancel.revokes.EXIT_WAIT", 0.0)
    job_id = f"stuck-{uuid.uuid4()}"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        announcer = RevokedAfterExit(app)
        announcer.add(child.pid, SimpleNamespace(id=job_id, hostname="w1@test"),
                      {"terminated": True, "signum": "SIGTERM", "expired": False})
        announcer()
        assert announcer._pending == [] and child.poll() is None
        wait_for(lambda: shown(flower_state, job_id) == "REVOKED", 10, "REVOKED shown")
    finally:
        child.kill()
        child.wait(10)


def _nothing() -> None:
    """A forked process's body: kombu's after-fork cleanup has run by then."""


@pytest.mark.parametrize("broker", BROKERS, indirect=True)
def test_the_repeated_revoke_arrives_after_the_pool_forked_a_process(
        app: Celery, flower_state: State) -> None:
    # The worker's main process has used a pooled broker connection, then the pool forks
    # the process that replaces the terminated one. On AMQP, kombu's after-fork cleanup
    # in the child shuts the inherited pooled socket down under the parent as well.
    job_id = f"fork-{uuid.uuid4()}"
    with app.events.default_dispatcher(hostname="w1@test") as dispatcher:
        dispatcher.send("task-started", uuid=job_id)
    wait_for(lambda: shown(flower_state, job_id) == "STARTED", 10, "STARTED shown")
    child = billiard.Process(target=_nothing)
    child.start()
    try:
        # The cleanup can also block the child for good: on Redis, a pooled channel of
        # this test process that had a BRPOP outstanding at the fork makes the child read
        # its reply from the socket it shares with this process (kombu's Channel.close),
        # and this process may take it first. The fork has happened either way.
        child.join(10)
        announce_revoked(app, SimpleNamespace(id=job_id, hostname="w1@test"),
                         terminated=True, signum="SIGTERM", expired=False)
        wait_for(lambda: shown(flower_state, job_id) == "REVOKED", 10, "REVOKED shown")
    finally:
        if child.is_alive():
            child.kill()
            child.join(10)

"""Flower next to regiq: a real Flower process, a real prefork worker with events on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery

from regiq_tasks import cancel_job, get_job
from tests.fixtures.flower import Flower
from tests.fixtures.services import BROKERS
from tests.fixtures.waiting import wait_for

# Against both brokers users run (issue 15): Redis and RabbitMQ.
pytestmark = [pytest.mark.prefork, pytest.mark.parametrize("broker", BROKERS, indirect=True)]
Start = Callable[..., Any]


def flower_state(flower: Flower, task_id: str, state: str) -> dict[str, Any] | None:
    info = flower.task_info(task_id)
    return info if info and info["state"] == state else None


def test_flowers_task_page_shows_the_progress_of_a_running_job(
        app: Celery, prefork_worker: Start, flower: Flower) -> None:
    prefork_worker(app, events=True)
    result = app.tasks["t.count"].delay(600, 60.0, "page")
    info = wait_for(lambda: (i := flower_state(flower, result.id, "PROGRESS"))
                    and i["result"] and i, 30, "PROGRESS with numbers in Flower")
    progress = info["result"]
    assert progress["total"] == 600 and 0 < progress["current"] < 600
    assert progress["percent"] == round(100 * progress["current"] / 600, 2)
    assert progress["message"].startswith("page ")
    page = flower.task_page(result.id)
    assert "percent" in page and "page " in page and "total" in page
    cancel_job(result.id, "done looking", app=app)


def test_a_terminate_from_flower_ends_cancelled_and_revoked_in_flower(
        app: Celery, prefork_worker: Start, flower: Flower) -> None:
    prefork_worker(app, events=True)
    result = app.tasks["t.count"].delay(600, 60.0, "reindexed")
    wait_for(lambda: flower_state(flower, result.id, "PROGRESS"), 30, "PROGRESS in Flower")
    flower.revoke(result.id, terminate=True)
    wait_for(lambda: flower_state(flower, result.id, "REVOKED"), 20, "REVOKED in Flower")
    job = wait_for(lambda: (j := get_job(result.id, app=app)) and j["status"] != "running"
                   and j, 20, "job to end")
    assert job["status"] == "cancelled" and job["error"] is None
    assert job["cancel"]["terminated"] is True and job["cancel"]["signal"] == "SIGTERM"


def test_a_revoke_from_flower_stops_a_running_job_at_its_next_check(
        app: Celery, prefix: str, prefork_worker: Start, flower: Flower) -> None:
    prefork_worker(app, events=True)
    result = app.tasks["t.cooperative"].delay(1000, 0.01, f"{prefix}f")
    wait_for(lambda: flower_state(flower, result.id, "PROGRESS"), 30, "PROGRESS in Flower")
    flower.revoke(result.id)
    wait_for(lambda: flower_state(flower, result.id, "REVOKED"), 20, "REVOKED in Flower")
    job = wait_for(lambda: (j := get_job(result.id, app=app)) and j["status"] != "running"
                   and j, 10, "job to end")
    assert job["status"] == "cancelled"
    assert job["cancel"]["reason"] == "revoked outside regiq"

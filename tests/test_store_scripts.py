"""The store's scripts in pipelines: one round trip, and recovery from NOSCRIPT.

A private redis-server, so that ``SCRIPT FLUSH`` (the whole server's script cache)
touches nobody else's scripts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from regiq_tasks.store import Change, LiveStore
from regiq_tasks.store.keys import Keys
from regiq_tasks.store.scripts import LuaScript, execute
from tests.fixtures.redis_server import RedisServer

COUNT = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[redis.Redis]:
    server = RedisServer(tmp_path / "redis", persistent=False).start()
    client = redis.Redis.from_url(server.url)
    try:
        yield client
    finally:
        client.close()
        server.stop()


def _calls(client: redis.Redis, command: str) -> int:
    stats = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def test_a_pipeline_of_scripts_is_one_round_trip_without_script_exists(
        client: redis.Redis) -> None:
    script = LuaScript(client, COUNT)
    client.script_load(COUNT)
    pipe = client.pipeline(transaction=False)
    for n in (1, 2, 3):
        script(keys=["n"], args=[n], client=pipe)
    assert execute(pipe) == [1, 3, 6]
    assert _calls(client, "script|exists") == 0  # redis-py's Script would send one
    assert _calls(client, "evalsha") == 3


def test_refused_commands_rerun_once_after_the_cache_was_flushed(client: redis.Redis) -> None:
    script = LuaScript(client, COUNT)
    assert script(keys=["n"], args=[5]) == 5  # loads it on NOSCRIPT, direct call
    client.script_flush()
    pipe = client.pipeline(transaction=False)
    pipe.incrby("plain", 1)  # not a script: runs once, is not re-run
    script(keys=["n"], args=[10], client=pipe)
    script(keys=["n"], args=[100], client=pipe)
    assert execute(pipe) == [1, 15, 115]
    assert client.get("plain") == b"1"
    assert client.get("n") == b"115"


def test_errors_other_than_noscript_are_raised(client: redis.Redis) -> None:
    script = LuaScript(client, "return redis.error_reply('boom')")
    pipe = client.pipeline(transaction=False)
    script(keys=[], args=[], client=pipe)
    with pytest.raises(redis.ResponseError, match="boom"):
        execute(pipe)


def test_the_store_applies_a_batch_after_the_cache_was_flushed(client: redis.Redis) -> None:
    store = LiveStore(client, Keys("t:"))
    client.script_flush()
    changes = [Change("j1", "queued", fill={"id": "j1", "name": "n", "created_at": 1.0}),
               Change("j1", "running", set={"started_at": 2.0}),
               Change("j1", "succeeded", set={"finished_at": 2.5})]
    assert store.apply_many(changes) == [("queued", False), ("running", False),
                                         ("succeeded", False)]
    record = store.get("j1")
    assert record is not None and record["status"] == "succeeded"
    assert record["duration_s"] == pytest.approx(0.5)
    assert record["queue_wait_s"] == pytest.approx(1.0)

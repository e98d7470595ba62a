"""Every Redis key literal is pinned: changing one is a data migration."""

import pytest
import redis

from regiq_tasks.store.keys import (
    ARCHIVER_GROUP,
    ARCHIVER_LOCK,
    EXPIRY_LOCK,
    INDEX_DIMENSIONS,
    INDEX_FIELDS,
    METRICS_LOCK,
    REAPER_LOCK,
    RELAY_LOCK,
    RETENTION_LOCK,
    ROOM_ALL,
    SCOPE_ALL,
    SNAPSHOT_KINDS,
    Keys,
    index_member,
    index_member_us,
    job_room,
    pipeline_room,
    queue_scope,
    split_index_member,
    type_room,
    type_scope,
)
from regiq_tasks.store.prelude import lua_prelude

# Every public member of Keys; a new key is pinned below before it joins this list.
PINNED = {"prefix", "job", "index_all", "index", "running", "expiry", "events", "archive",
          "archive_dropped", "message", "plan", "pipeline_cancel", "lock", "alert_failures",
          "alert_burst", "alert_overdue", "socketio_channel", "cancel_channel", "relay_last_id",
          "live_rooms",
          "metrics_cum",
          "metrics_scopes", "metrics_snapshot", "metrics_snapshots", "metrics_finished",
          "workers", "worker", "worker_samples", "alert_watch", "job_logs"}


def test_every_key_name_is_pinned() -> None:
    k = Keys("p:")
    assert k.job("abc") == "p:job:abc"
    assert k.index_all == "p:ix:all"
    assert k.index("status", "running") == "p:ix:status:running"
    assert k.index("type", "ingest") == "p:ix:type:ingest"
    assert k.index("worker", "celery@h") == "p:ix:worker:celery@h"
    assert k.index("pipeline", "r1") == "p:ix:pipeline:r1"
    assert k.running == "p:running"
    assert k.expiry == "p:expiry"
    assert k.events == "p:events"
    assert k.archive == "p:archive"
    assert k.archive_dropped == "p:archive:dropped"
    assert k.message("abc") == "p:message:abc"
    assert k.plan("r1") == "p:plan:r1"
    assert k.pipeline_cancel("r1") == "p:pipeline-cancel:r1"
    assert k.lock("archiver") == "p:lock:archiver"
    assert k.alert_failures("ingest") == "p:alerts:failures:ingest"
    assert k.alert_burst("ingest") == "p:alerts:burst:ingest"
    assert k.alert_overdue("abc") == "p:alerts:overdue:abc"
    assert k.alert_watch == "p:alerts:watch"
    assert k.socketio_channel == "p:socketio"
    assert k.cancel_channel == "p:cancels"
    assert ARCHIVER_GROUP == "archiver"
    assert k.relay_last_id == "p:live:relay-last-id"
    assert k.live_rooms == "p:live:rooms"
    assert k.lock(RELAY_LOCK) == "p:lock:live-relay"
    assert [k.lock(n) for n in (ARCHIVER_LOCK, REAPER_LOCK, EXPIRY_LOCK, RETENTION_LOCK)] == [
        "p:lock:archiver", "p:lock:reaper", "p:lock:expiry", "p:lock:history-retention"]


def test_the_metric_keys_are_pinned() -> None:
    k = Keys("p:")
    assert k.metrics_cum("all") == "p:m:cum:all"
    assert k.metrics_cum(type_scope("ingest")) == "p:m:cum:t:ingest"
    assert k.metrics_cum(queue_scope("celery")) == "p:m:cum:q:celery"
    assert k.metrics_scopes == "p:m:scopes"
    assert k.metrics_snapshot("m", 1764590400, "all") == "p:m:snap:m:1764590400:all"
    assert k.metrics_snapshot("h", 1764590400, "t:x") == "p:m:snap:h:1764590400:t:x"
    assert k.metrics_snapshots("h") == "p:m:snaps:h"
    assert k.metrics_finished == "p:m:fin"
    assert (SCOPE_ALL, SNAPSHOT_KINDS, k.lock(METRICS_LOCK)) == ("all", ("m", "h"),
                                                                 "p:lock:metrics")
    with pytest.raises(ValueError, match="no snapshot kind"):
        k.metrics_snapshot("d", 0, "all")


def test_the_worker_sample_keys_are_pinned() -> None:
    k = Keys("p:")
    assert k.workers == "p:workers"
    assert k.worker("celery@h1") == "p:worker:celery@h1"
    assert k.worker_samples("celery@h1") == "p:worker-samples:celery@h1"


def test_the_lua_prelude_spells_the_metric_keys_as_keys_py(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    script = client.register_script(lua_prelude() + """
local M = metric_keys(ARGV[1])
return {M.cum('all'), M.scopes, M.fin, M.snap('m', 60, 't:x'), M.snaps('h'),
        SCOPE_ALL, SCOPE_TYPE, SCOPE_QUEUE}""")
    k = Keys("p:")
    assert [x.decode() for x in script(args=["p:"])] == [
        k.metrics_cum("all"), k.metrics_scopes, k.metrics_finished,
        k.metrics_snapshot("m", 60, "t:x"), k.metrics_snapshots("h"), "all", "t:", "q:"]


def test_no_key_of_keys_py_goes_unpinned() -> None:
    assert {name for name in dir(Keys("p:")) if not name.startswith("_")} == PINNED


def test_every_socketio_room_name_is_pinned() -> None:
    assert ROOM_ALL == "all"
    assert job_room("abc") == "job:abc"
    assert pipeline_room("p1") == "pipeline:p1"
    assert type_room("ingest") == "type:ingest"


def test_the_index_member_layout_is_pinned() -> None:
    assert index_member(1.5, "abc") == "0000000001500000:abc"
    assert index_member(1764590400.25, "t-1") == "1764590400250000:t-1"
    assert index_member_us(1_500_000) == "0000000001500000:"
    assert index_member_us(1_500_000, "abc") == "0000000001500000:abc"
    assert split_index_member("0000000001500000:a:b") == (1_500_000, "a:b")
    assert dict(zip(INDEX_DIMENSIONS, INDEX_FIELDS)) == {
        "status": "status", "type": "type", "worker": "worker", "pipeline": "pipeline_id"}


def test_an_unknown_index_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="no index on 'colour'"):
        Keys("p:").index("colour", "red")


_SPELL = """
local K = keyspace(ARGV[1])
local out = {K.job('abc'), K.message('abc'), K.plan('abc'), K.index_all}
for _, dimension in ipairs(INDEX_DIMENSIONS) do out[#out + 1] = K.index(dimension, 'v') end
for i = 2, #ARGV do out[#out + 1] = index_member(tonumber(ARGV[i]), 't-1') end
out[#out + 1] = member_id('0000000001500000:a:b')
out[#out + 1] = table.concat(INDEX_FIELDS, ',')
return out
"""
_CREATED = ["0", "1.5", "0.000001", "1764590400.25", "1764590400.123456", "1764590400.999999"]


def test_the_lua_prelude_spells_keys_and_members_as_keys_py_does(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    spelled = client.eval(lua_prelude() + _SPELL, 0, "p:", *_CREATED)
    assert spelled == ["p:job:abc", "p:message:abc", "p:plan:abc", "p:ix:all", "p:ix:status:v",
                       "p:ix:type:v", "p:ix:worker:v", "p:ix:pipeline:v",
                       *(index_member(float(c), "t-1") for c in _CREATED),
                       "a:b", "status,type,worker,pipeline_id"]
    k = Keys("p:")
    assert spelled[:8] == [k.job("abc"), k.message("abc"), k.plan("abc"), k.index_all,
                           *(k.index(d, "v") for d in INDEX_DIMENSIONS)]


def test_the_lua_prelude_refuses_an_unknown_index_dimension(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    with pytest.raises(redis.ResponseError, match="no index on colour"):
        client.eval(lua_prelude() + "return keyspace('p:').index('colour', 'red')", 0)


def test_the_job_log_key_is_pinned_and_spelled_alike_in_lua(redis_url: str) -> None:
    assert Keys("p:").job_logs("abc") == "p:joblog:abc"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert client.eval(lua_prelude() + "return keyspace(ARGV[1]).job_logs('abc')", 0,
                       "p:") == "p:joblog:abc"

"""Every Redis key literal is pinned: changing one is a data migration."""

import pytest

from regiq_tasks.keys import (ARCHIVER_GROUP, RELAY_LOCK, ROOM_ALL, Keys, job_room,
                              pipeline_room, type_room)


def test_every_key_name_is_pinned() -> None:
    k = Keys("p:")
    assert k.job("abc") == "p:job:abc"
    assert k.job_prefix == "p:job:"
    assert k.index_prefix == "p:ix:"
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
    assert k.lock("archiver") == "p:lock:archiver"
    assert k.alert_failures("ingest") == "p:alerts:failures:ingest"
    assert k.alert_burst("ingest") == "p:alerts:burst:ingest"
    assert k.alert_overdue("abc") == "p:alerts:overdue:abc"
    assert k.socketio_channel == "p:socketio"
    assert ARCHIVER_GROUP == "archiver"
    assert k.relay_last_id == "p:live:relay-last-id"
    assert k.live_rooms == "p:live:rooms"
    assert k.lock(RELAY_LOCK) == "p:lock:live-relay"


def test_every_socketio_room_name_is_pinned() -> None:
    assert ROOM_ALL == "all"
    assert job_room("abc") == "job:abc"
    assert pipeline_room("p1") == "pipeline:p1"
    assert type_room("ingest") == "type:ingest"


def test_an_unknown_index_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="no index on 'colour'"):
        Keys("p:").index("colour", "red")

"""Every Redis key literal is pinned: changing one is a data migration."""

import pytest

from regiq_tasks.keys import ARCHIVER_GROUP, Keys


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
    assert k.lock("archiver") == "p:lock:archiver"
    assert ARCHIVER_GROUP == "archiver"


def test_an_unknown_index_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="no index on 'colour'"):
        Keys("p:").index("colour", "red")

"""Leases: one holder at a time, renewed while held, taken again after Redis lost it."""

import threading

import redis

from regiq_tasks.store.keys import Keys
from regiq_tasks.store.lease import Lease


def _pair(redis_url: str, prefix: str) -> tuple[redis.Redis, Lease, Lease]:
    client = redis.Redis.from_url(redis_url)
    key = Keys(prefix).lock("duty")
    return client, Lease(client, key, ttl=30), Lease(client, key, ttl=30)


def test_one_holder_at_a_time_and_the_holder_renews(redis_url: str, prefix: str) -> None:
    client, first, second = _pair(redis_url, prefix)
    assert first.hold() and first.held
    assert not second.hold() and not second.held
    client.pexpire(first.key, 500)
    assert first.hold()  # renewed to the full TTL
    assert client.pttl(first.key) > 29_000
    assert not second.hold()


def test_a_released_lease_passes_to_the_next_caller(redis_url: str, prefix: str) -> None:
    _, first, second = _pair(redis_url, prefix)
    assert first.hold()
    releasing = threading.Thread(target=first.release)  # shutdown runs in another thread
    releasing.start()
    releasing.join()
    assert not first.held
    assert second.hold()


def test_a_lease_gone_from_redis_is_taken_again_by_its_holder(redis_url: str,
                                                              prefix: str) -> None:
    client, first, second = _pair(redis_url, prefix)
    assert first.hold()
    client.delete(first.key)  # as after Redis restarted empty
    assert first.hold() and client.exists(first.key)
    assert not second.hold()


def test_a_lease_lost_to_another_holder_is_not_renewed(redis_url: str, prefix: str) -> None:
    client, first, second = _pair(redis_url, prefix)
    assert first.hold()
    client.delete(first.key)  # it ran out
    assert second.hold()
    assert not first.hold() and not first.held
    first.release()  # not ours: nothing to give up, no error
    assert second.hold()

"""A Redis lease: at most one holder of a named duty at a time, renewed while held."""

from __future__ import annotations

import uuid

import redis

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """A named lease in Redis; :meth:`hold` acquires or renews it."""

    def __init__(self, client: redis.Redis, key: str, ttl: float) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(1, int(ttl * 1000))
        self.token = uuid.uuid4().hex
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self.held = False

    def hold(self) -> bool:
        """Acquire the lease if free or renew it if ours; True while we hold it."""
        if self.held and self._renew(keys=[self.key], args=[self.token, self.ttl_ms]):
            return True
        self.held = bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))
        return self.held

    def release(self) -> None:
        """Give the lease up if we hold it."""
        if self.held:
            self._release(keys=[self.key], args=[self.token])
            self.held = False

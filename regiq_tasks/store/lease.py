"""A Redis lease: at most one holder of a named duty at a time, renewed while held.

The lock is redis-py's :class:`redis.lock.Lock`: a random token set with ``SET NX PX``,
renewed (``reacquire``) and released only by the holder of that token. What Lock lacks
is the one step a duty loop takes each tick, and that is all :class:`Lease` adds:
:meth:`Lease.hold` renews the lease while it is ours and otherwise tries once, without
blocking, to take it, so one call (one round trip while held or free) answers "may I do
the duty now?". When the renew finds the key gone or someone else's (Redis came back
empty, or the lease ran out), the same call takes the lease again if it is free.
Lock's token is kept per object, not per thread (``thread_local=False``): the loop that
holds a lease and the code that releases it at shutdown may run in different threads.
"""

from __future__ import annotations

import redis
from redis.exceptions import LockError
from redis.lock import Lock


class Lease:
    """A named lease in Redis; :meth:`hold` acquires or renews it."""

    def __init__(self, client: redis.Redis, key: str, ttl: float) -> None:
        self.key = key
        self.lock = Lock(client, key, timeout=ttl, blocking=False, thread_local=False)
        self.held = False

    def hold(self) -> bool:
        """Acquire the lease if free or renew it if ours; True while we hold it."""
        if self.held:
            try:
                return self.lock.reacquire()
            except LockError:  # not ours any more (expired, taken, or Redis restarted empty)
                pass
        self.held = bool(self.lock.acquire(blocking=False))
        return self.held

    def release(self) -> None:
        """Give the lease up if we hold it."""
        if self.held:
            try:
                self.lock.release()
            except LockError:  # it ran out or passed to another holder meanwhile
                pass
            self.held = False

"""A Redis sliding window of a job type's failures, and the burst it may start.

One Lua script adds the failure, trims the window, counts, and starts a burst when the
count reaches the threshold, atomically: two alert workers counting at once never both
start a burst, and the failure that starts it is counted exactly once.
"""

from __future__ import annotations

import redis

from regiq_tasks.store.keys import Keys

_ADD = """
-- KEYS: 1 failures zset, 2 burst marker. ARGV: 1 window s, 2 threshold, 3 job id.
-- Returns {failures in window, burst start or '', 1 if this failure started it}.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local window = tonumber(ARGV[1])
local ms = math.max(1, math.ceil(window * 1000))
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], ms)
local seen = redis.call('ZCARD', KEYS[1])
local started = redis.call('GET', KEYS[2])
if started then return {seen, started, 0} end
if seen >= tonumber(ARGV[2]) then
  local start = string.format('%.3f', now)
  redis.call('SET', KEYS[2], start, 'PX', ms)
  return {seen, start, 1}
end
return {seen, '', 0}
"""


class FailureWindow:
    """Failures per job type over the last ``window_s`` seconds, in Redis."""

    def __init__(self, client: redis.Redis, keys: Keys, threshold: int,
                 window_s: float) -> None:
        self.client = client
        self.keys = keys
        self.threshold = threshold
        self.window_s = window_s

    def add(self, job_type: str, job_id: str) -> tuple[int, float | None, bool]:
        """Count a failure: (failures in window, burst start or None, burst started now)."""
        script = self.client.register_script(_ADD)
        raw = script(keys=[self.keys.alert_failures(job_type), self.keys.alert_burst(job_type)],
                     args=[repr(self.window_s), self.threshold, job_id])
        seen, start, new = int(raw[0]), raw[1], int(raw[2])
        text = start.decode() if isinstance(start, bytes) else str(start)
        return seen, float(text) if text else None, bool(new)

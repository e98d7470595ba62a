-- A worker's accept mark (tracking/accepted.py): put a job that is still queued, or whose
-- record is not written yet, in the running set, so that the reaper ends it lost if its
-- worker dies before writing it running. Sent bare with EVAL (no prelude: it goes out
-- once per job, and no reply could say NOSCRIPT).
-- KEYS: 1 job hash, 2 running zset. ARGV: 1 job id.
local s = redis.call('HGET', KEYS[1], 'status')
if not s or s == 'queued' then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[2], 'NX', tonumber(t[1]) + tonumber(t[2]) / 1e6, ARGV[1])
end

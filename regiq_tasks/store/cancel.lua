-- Record a cancel request on a job, atomically.
-- KEYS: 1 job hash, 2 events stream, 3 archive stream, 4 running zset, 5 cancel channel
-- ARGV: 1 key prefix (of the index keys, see keyspace()), 2 job id, 3 cancel record JSON,
--       4 events maxlen, 5 now (epoch s), 6 terminate ('1' or '0')
-- Returns {outcome, status}: outcome 'missing' | 'final' (status says which) |
--   'already' (already cancelled, unchanged) | 'cancelled' (was queued or retrying: it
--   is cancelled now and will never run) | 'requested' (running: it stops at its next check)
local K = keyspace(ARGV[1])
local job, id = KEYS[1], ARGV[2]
local cur = read_job(job, {'_ix', 'cancel_requested'})
local status = cur.status
if not status then return {'missing', ''} end
if status == 'cancelled' then return {'already', status} end
if status == 'succeeded' or status == 'failed' or status == 'lost' then
  return {'final', status}
end
if cur.cancel_requested == '1' then return {'already', status} end
redis.call('HSETNX', job, 'cancel', ARGV[3])
redis.call('HSET', job, 'cancel_requested', '1')
if ARGV[6] == '1' then redis.call('HSET', job, 'cancel_terminate', '1') end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'id', id, 'status', status,
           'data', '{"cancel":' .. ARGV[3] .. '}')
if status == 'running' then  -- pushed to the process running it (cancel/listen.py)
  redis.call('PUBLISH', KEYS[5], ARGV[6] .. ':' .. id)
  return {'requested', status}
end
-- queued or retrying: final now; the start hook refuses to run it
redis.call('HSET', job, 'status', 'cancelled', 'finished_at', ARGV[5])
if cur._ix then
  redis.call('ZREM', K.index('status', status), cur._ix)
  redis.call('ZADD', K.index('status', 'cancelled'), 0, cur._ix)
end
redis.call('ZREM', KEYS[4], id)
local after = read_job(job, {'queue', 'resources', 'duration_s', 'queue_wait_s'})
record_metrics(metric_keys(ARGV[1]), after, after, status, 'cancelled', tonumber(ARGV[5]))
redis.call('XADD', KEYS[3], '*', 'id', id)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'id', id, 'status', 'cancelled',
           'data', '{"status":"cancelled"}')
return {'cancelled', 'cancelled'}

-- Claim the retry of a job: check that it may be retried, link it to the new job and
-- hand back its kept task message, atomically (two retries never publish it twice).
-- KEYS: 1 job hash, 2 its kept message, 3 events stream, 4 archive stream
-- ARGV: 1 job id, 2 new job id, 3 events maxlen, 4 who asked for the retry or ''
-- Returns {outcome, status, extra}: 'missing' (no live record), 'state' (a status that is
-- not retried), 'retried' (extra: the job it was retried as already), 'gone' (no message
-- kept), 'ok' (extra: the message). On 'ok' the job has ``retried_as`` (and ``retried_by``),
-- an event says so and it is queued for the archiver again, so that its history row
-- gains the link too.
local RETRYABLE = {failed = true, lost = true, cancelled = true}
local f = redis.call('HMGET', KEYS[1], 'status', 'retried_as')
local status, retried = f[1], f[2]
if not status then return {'missing', ''} end
if not RETRYABLE[status] then return {'state', status} end
if retried then return {'retried', status, retried} end
local message = redis.call('GET', KEYS[2])
if not message then return {'gone', status} end
redis.call('HSET', KEYS[1], 'retried_as', ARGV[2])
local data = {retried_as = ARGV[2], status = status}
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'retried_by', ARGV[4])
  data.retried_by = ARGV[4]
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'id', ARGV[1], 'status', status,
           'data', cjson.encode(data))
redis.call('XADD', KEYS[4], '*', 'id', ARGV[1])
return {'ok', status, message}

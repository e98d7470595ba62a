-- Apply one change to a job (status transition, progress or metadata) atomically.
-- KEYS: 1 job hash, 2 events stream, 3 archive stream, 4 running zset,
--       5 (optional) the pipeline's cancel record: queued/running become cancelled
-- ARGV: 1 key prefix (of the index keys, see keyspace()), 2 job id, 3 new status or '',
--       4 events maxlen, 5 event data JSON or '' (no event), 6 reap guard or '': a cutoff
--       (only apply while the job's heartbeat is older than this) or 'queued' (only while
--       the job is queued and no worker accepted it), 7 number of "set" pairs N,
--       8 the job's task message to keep for a retry or '' (the queued change; kept even
--       when the job already ended, as a fast job's queued change lands after its end),
--       9 the job's plan entry (pipelines/plan.py) or '', 10 the pipeline id or '' (on publish
--       and start: the pipeline's plan, kept while a job of it is live, loses any expiry),
--       then N field/value pairs to overwrite, then field/value pairs to fill if absent.
-- Returns {status after, cancel_requested flag or ''}.
local FINAL = {succeeded = true, failed = true, cancelled = true, lost = true}
local RANK = {queued = 0, running = 1, retrying = 1}
local K = keyspace(ARGV[1])
local job, id, new = KEYS[1], ARGV[2], ARGV[3]
local first_fill = 11 + 2 * tonumber(ARGV[7])
-- One read: the fields decided on here, and which of the fill fields exist already.
local want = {'id', '_ix', 'cancel_requested', 'created_at', 'started_at', 'finished_at',
              'queue_wait_s', 'duration_s', 'queue', 'resources'}
for i = first_fill, #ARGV, 2 do want[#want + 1] = ARGV[i] end
local cur = read_job(job, want)
local status = cur.status
if ARGV[8] ~= '' then redis.call('SET', K.message(id), ARGV[8]) end
if ARGV[10] ~= '' then
  if ARGV[9] ~= '' then redis.call('HSETNX', K.plan(ARGV[10]), id, ARGV[9]) end
  if not (status and FINAL[status]) then redis.call('PERSIST', K.plan(ARGV[10])) end
end
if status and FINAL[status] then
  -- a reap of an ended job: drop a leftover running entry (an accept mark made while
  -- the job was still queued, then cancelled), or the reaper would find it every pass
  if ARGV[6] ~= '' then redis.call('ZREM', KEYS[4], id) end
  -- a move to retrying that lands after the retried run ended (the two runs' pool
  -- processes write in batches of their own): the record stands, the retry counts
  if new == 'retrying' then
    local t = redis.call('TIME')
    record_metrics(metric_keys(ARGV[1]), cur, cur, 'running', new, tonumber(t[1]))
  end
  return {status, cur.cancel_requested or ''}
end
if not status and new == '' then return {'', ''} end
if ARGV[6] == 'queued' then
  if status ~= 'queued' or redis.call('ZSCORE', KEYS[4], id) then return {status or '', ''} end
elseif ARGV[6] ~= '' then
  if not status then redis.call('ZREM', KEYS[4], id) return {'', ''} end
  local beat = redis.call('ZSCORE', KEYS[4], id)
  if not beat or tonumber(beat) > tonumber(ARGV[6]) then return {status or '', ''} end
end
if new ~= '' and status and not FINAL[new] and RANK[new] < RANK[status] then new = '' end
if new == 'lost' and cur.cancel_requested == '1' then new = 'cancelled' end  -- a forced cancel
local pipeline_cancel = nil
if KEYS[5] and (new == 'queued' or new == 'running') then
  pipeline_cancel = redis.call('GET', KEYS[5])
  if pipeline_cancel then new = 'cancelled' end
end
-- The job as this change leaves it (`after`), written with one HSET: the "set" pairs,
-- then the fill pairs whose field is still absent.
local after, writes = {}, {}
for name, value in pairs(cur) do after[name] = value end
local function put(name, value)
  writes[#writes + 1] = name
  writes[#writes + 1] = value
  after[name] = value
end
for i = 11, first_fill - 1, 2 do put(ARGV[i], ARGV[i + 1]) end
for i = first_fill, #ARGV, 2 do
  if not after[ARGV[i]] then put(ARGV[i], ARGV[i + 1]) end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
if not status then
  -- The record is gone (Redis came back empty): a transition recreates one that can be
  -- archived and listed, whatever identity the change did not carry itself.
  if not after.id then put('id', id) end
  if not after.created_at then put('created_at', now) end
  if not after._ix then put('_ix', index_member(tonumber(after.created_at) or now, id)) end
end
if pipeline_cancel then
  redis.call('HSETNX', job, 'cancel', pipeline_cancel)
  put('cancel_requested', '1')
  put('finished_at', now)
  after.started_at = false  -- deleted below, after the HSET
end
if new ~= '' then put('status', new) end
if after.started_at and after.created_at and not after.queue_wait_s then
  put('queue_wait_s', math.max(0, tonumber(after.started_at) - tonumber(after.created_at)))
end
if after.finished_at and after.started_at and not after.duration_s then
  put('duration_s', math.max(0, tonumber(after.finished_at) - tonumber(after.started_at)))
end
if #writes > 0 then redis.call('HSET', job, unpack(writes)) end
if pipeline_cancel then redis.call('HDEL', job, 'started_at') end
if new == 'cancelled' and ARGV[3] == 'lost' then
  redis.call('HDEL', job, 'error')
end
record_metrics(metric_keys(ARGV[1]), cur, after, status, new, now)
local oldix, newix = cur._ix, after._ix
if newix and oldix ~= newix then
  if oldix then redis.call('ZREM', K.index_all, oldix) end
  redis.call('ZADD', K.index_all, 0, newix)
end
for d, dimension in ipairs(INDEX_DIMENSIONS) do
  local o, n = cur[INDEX_FIELDS[d]], after[INDEX_FIELDS[d]]
  if newix and (o ~= n or oldix ~= newix) then
    if o and oldix then redis.call('ZREM', K.index(dimension, o), oldix) end
    if n then redis.call('ZADD', K.index(dimension, n), 0, newix) end
  end
end
if new == 'running' then
  redis.call('ZADD', KEYS[4], now, id)
elseif new ~= '' and new ~= 'queued' then
  -- (a queued change never follows running or retrying; one landing after the worker's
  -- accept mark, tracking/accepted.py, leaves the mark in place)
  redis.call('ZREM', KEYS[4], id)
end
if new ~= '' and FINAL[new] then
  redis.call('XADD', KEYS[3], '*', 'id', id)
end
if ARGV[5] ~= '' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'id', id, 'status',
             after.status or '', 'data', ARGV[5])
end
return {after.status or '', after.cancel_requested or ''}

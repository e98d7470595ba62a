-- Remove archived jobs whose live TTL is over from the live store and its indexes
-- (with the task message kept for a retry, their kept log lines, and the pipeline's
-- plan with its last job).
-- KEYS: 1 expiry zset. ARGV: 1 key prefix (the job and index keys, see keyspace()),
-- 2 max count. Returns the number of jobs removed.
local K = keyspace(ARGV[1])
local t = redis.call('TIME')
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  local job = K.job(id)
  local f = read_job(job, {'_ix'})
  if f._ix then
    redis.call('ZREM', K.index_all, f._ix)
    for d, dimension in ipairs(INDEX_DIMENSIONS) do
      local value = f[INDEX_FIELDS[d]]
      if value then redis.call('ZREM', K.index(dimension, value), f._ix) end
    end
    if f.pipeline_id and redis.call('EXISTS', K.index('pipeline', f.pipeline_id)) == 0 then
      redis.call('DEL', K.plan(f.pipeline_id))
    end
  end
  redis.call('DEL', job, K.message(id), K.job_logs(id))
  redis.call('ZREM', KEYS[1], id)
end
return #ids

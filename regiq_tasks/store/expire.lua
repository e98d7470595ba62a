-- Remove archived jobs whose live TTL is over from the live store and its indexes.
-- KEYS: 1 expiry zset. ARGV: 1 job key prefix, 2 index prefix, 3 max count.
-- Returns the number of jobs removed.
local t = redis.call('TIME')
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t[1], 'LIMIT', 0, tonumber(ARGV[3]))
local dims = {'status', 'type', 'worker', 'pipeline'}
local P = ARGV[2]
for _, id in ipairs(ids) do
  local job = ARGV[1] .. id
  local f = redis.call('HMGET', job, 'status', 'type', 'worker', 'pipeline_id', '_ix')
  if f[5] then
    redis.call('ZREM', P .. 'all', f[5])
    for d = 1, 4 do
      if f[d] then redis.call('ZREM', P .. dims[d] .. ':' .. f[d], f[5]) end
    end
  end
  redis.call('DEL', job)
  redis.call('ZREM', KEYS[1], id)
end
return #ids

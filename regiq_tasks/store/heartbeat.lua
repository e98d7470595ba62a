-- Renew the heartbeat of running jobs (only those still in the running set).
-- KEYS: 1 running zset. ARGV: job ids.
-- Returns the ids that are not in the running set (their record may be gone: Redis
-- came back empty), so that their process can write them again.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local missing = {}
for _, id in ipairs(ARGV) do
  if redis.call('ZSCORE', KEYS[1], id) then
    redis.call('ZADD', KEYS[1], 'XX', now, id)
  else
    missing[#missing + 1] = id
  end
end
return missing

-- Renew the heartbeat of running jobs (only those still in the running set).
-- KEYS: 1 running zset. ARGV: job ids. Returns the number renewed.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local n = 0
for _, id in ipairs(ARGV) do
  n = n + redis.call('ZADD', KEYS[1], 'XX', 'CH', now, id)
end
return n

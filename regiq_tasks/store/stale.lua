-- Running jobs whose last heartbeat is older than ARGV[1] seconds (Redis server time).
-- KEYS: 1 running zset. ARGV: 1 lost_after, 2 max count. Returns {cutoff, id, id, ...}.
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) + tonumber(t[2]) / 1e6 - tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[2]))
table.insert(ids, 1, tostring(cutoff))
return ids

-- Record one resource sample of a worker (keys: store/keys.py, P workers and its neighbours).
-- KEYS: 1 P workers, 2 P worker:<name>, 3 P worker-samples:<name>.
-- ARGV: 1 name, 2 the sample (a JSON object), 3 its compact form (a JSON object),
--       4 TTL (s), 5 most compact samples kept.
-- Both JSON objects get "at" (Redis server time, s) as their first member, so that every
-- reader compares one clock. Returns that time.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local ttl = tonumber(ARGV[4])
local ttl_ms = math.ceil(ttl * 1000)
local stamp = '{"at":' .. string.format('%.3f', now) .. ','
redis.call('SET', KEYS[2], stamp .. string.sub(ARGV[2], 2), 'PX', ttl_ms)
redis.call('ZADD', KEYS[3], now, stamp .. string.sub(ARGV[3], 2))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. (now - ttl))
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[5]) + 1))
redis.call('PEXPIRE', KEYS[3], ttl_ms)
-- the workers set: score = when this worker's samples expire; expired members go
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
if redis.call('PTTL', KEYS[1]) < ttl_ms then redis.call('PEXPIRE', KEYS[1], ttl_ms) end
return tostring(now)

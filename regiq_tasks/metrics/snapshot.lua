-- Snapshot the cumulative metrics at the current minute and hour boundary, once each.
-- ARGV: 1 key prefix, 2 now (s), 3 minute start, 4 hour start, 5 minute snapshot TTL (s),
--       6 hour snapshot TTL (s), 7 P m:fin fields older than this (s) are dropped.
-- Returns the number of snapshots taken (0, 1 or 2).
local M = metric_keys(ARGV[1])
local now = tonumber(ARGV[2])
local scopes = redis.call('SMEMBERS', M.scopes)
local function snapshot(kind, start, ttl)
  local index = M.snaps(kind)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. (now - ttl))
  if redis.call('ZSCORE', index, start) then return 0 end
  local seen_all = false
  for _, scope in ipairs(scopes) do
    local key = M.snap(kind, start, scope)
    redis.call('COPY', M.cum(scope), key, 'REPLACE')
    redis.call('HSET', key, '_at', ARGV[2])
    redis.call('EXPIRE', key, ttl)
    if scope == SCOPE_ALL then seen_all = true end
  end
  if not seen_all then  -- nothing recorded yet: an empty snapshot still says when
    local key = M.snap(kind, start, SCOPE_ALL)
    redis.call('DEL', key)
    redis.call('HSET', key, '_at', ARGV[2])
    redis.call('EXPIRE', key, ttl)
  end
  redis.call('ZADD', index, start, start)
  return 1
end
local taken = snapshot('m', ARGV[3], tonumber(ARGV[5])) + snapshot('h', ARGV[4], tonumber(ARGV[6]))
local cutoff = tonumber(ARGV[7])
local old = {}
for _, second in ipairs(redis.call('HKEYS', M.fin)) do
  if tonumber(second) < cutoff then old[#old + 1] = second end
end
if #old > 0 then redis.call('HDEL', M.fin, unpack(old)) end
return taken

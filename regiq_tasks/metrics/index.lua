-- Where a metrics window starts: the first copy at or after a boundary, and the copies
-- of the series, by the time each was taken (a copy never changes once taken, so the
-- reader may keep what it parsed of one: ``_at`` tells a copy from a later one at the
-- same boundary after Redis came back empty).
-- ARGV: 1 key prefix, 2 copy kind ('m' or 'h'), 3 first boundary (s), 4 main scope,
--       5 '1' to list the type scopes, 6 .. series boundaries (s).
-- Returns {base boundary or '', its _at or '', {type scopes}, {_at or '' per series
-- boundary}}.
local M = metric_keys(ARGV[1])
local kind = ARGV[2]
local found = redis.call('ZRANGEBYSCORE', M.snaps(kind), ARGV[3], '+inf', 'LIMIT', 0, 1)
local base = found[1]
local function taken(boundary)
  return redis.call('HGET', M.snap(kind, boundary, SCOPE_ALL), '_at') or ''
end
local types = {}
if ARGV[5] == '1' then
  for _, s in ipairs(redis.call('SMEMBERS', M.scopes)) do
    if string.sub(s, 1, #SCOPE_TYPE) == SCOPE_TYPE then types[#types + 1] = s end
  end
  table.sort(types)
end
local series = {}
for i = 6, #ARGV do series[#series + 1] = taken(ARGV[i]) end
return {base or '', base and taken(base) or '', types, series}

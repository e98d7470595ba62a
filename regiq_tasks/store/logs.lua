-- Append log lines to one job's kept lines and trim them to the bounds (see keys.py,
-- ``P joblog:<id>``): the last ARGV[1] lines and at most ARGV[2] bytes are kept, the
-- oldest go first and ``first`` counts them.
-- KEYS: 1 the job's log hash. ARGV: 1 max lines, 2 max bytes, 3 lines the job's process
-- let go before these (its buffer was full), 4.. the lines (JSON), oldest first.
local key = KEYS[1]
local max_lines, max_bytes, skipped = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local meta = redis.call('HMGET', key, 'next', 'first', 'bytes')
local nxt, first, size = tonumber(meta[1] or 0), tonumber(meta[2] or 0), tonumber(meta[3] or 0)
if skipped > 0 then
  -- the kept lines came before lines already let go: only a suffix is kept, so they go too
  for seq = first, nxt - 1 do redis.call('HDEL', key, seq) end
  nxt = nxt + skipped
  first, size = nxt, 0
end
for i = 4, #ARGV do
  redis.call('HSET', key, nxt, ARGV[i])
  size = size + #ARGV[i]
  nxt = nxt + 1
end
while first < nxt and (nxt - first > max_lines or size > max_bytes) do
  size = size - redis.call('HSTRLEN', key, first)
  redis.call('HDEL', key, first)
  first = first + 1
end
redis.call('HSET', key, 'next', nxt, 'first', first, 'bytes', size)
return nxt

-- Acknowledge archived stream entries and start the live TTL of their jobs, atomically.
-- KEYS: 1 archive stream, 2 expiry zset
-- ARGV: 1 key prefix (see keyspace()), 2 consumer group, 3 expiry time (epoch s, the
--       expiry zset's score), 4 safety TTL of the job's keys (s), 5 number of entries N,
--       then N entry ids, then the number of jobs M, M job ids, then pipeline ids.
local K = keyspace(ARGV[1])
local group, expire_at, ttl, n = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local CHUNK = 1000  -- arguments per command, well below Lua's unpack limit
local function each_chunk(first, last, fn)
  for i = first, last, CHUNK do fn(math.min(last, i + CHUNK - 1), i) end
end
each_chunk(6, 5 + n, function(stop, start)
  redis.call('XACK', KEYS[1], group, unpack(ARGV, start, stop))
  redis.call('XDEL', KEYS[1], unpack(ARGV, start, stop))
end)
local m = tonumber(ARGV[6 + n])
local first_job = 7 + n
local scored = {}
for i = first_job, first_job + m - 1 do
  local id = ARGV[i]
  scored[#scored + 1] = expire_at
  scored[#scored + 1] = id
  redis.call('EXPIRE', K.job(id), ttl)
  redis.call('EXPIRE', K.message(id), ttl)
  redis.call('EXPIRE', K.job_logs(id), ttl)
  if #scored >= CHUNK then
    redis.call('ZADD', KEYS[2], unpack(scored))
    scored = {}
  end
end
if #scored > 0 then redis.call('ZADD', KEYS[2], unpack(scored)) end
for i = first_job + m, #ARGV do redis.call('EXPIRE', K.plan(ARGV[i]), ttl) end
return n

-- Read what the archiver writes of each job in one call: the job hash's record fields and
-- the job's kept log lines.
-- ARGV: 1 key prefix (see keyspace()), 2 number of record fields F, then F field names,
--       then the job ids.
-- Returns, per job in order: the F values (false where absent), the log hash as a flat
-- field/value list (empty when the job kept no lines).
local K = keyspace(ARGV[1])
local f = tonumber(ARGV[2])
local fields = {unpack(ARGV, 3, 2 + f)}
local out = {}
for i = 3 + f, #ARGV do
  local id = ARGV[i]
  out[#out + 1] = redis.call('HMGET', K.job(id), unpack(fields))
  out[#out + 1] = redis.call('HGETALL', K.job_logs(id))
end
return out

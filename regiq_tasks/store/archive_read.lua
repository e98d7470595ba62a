-- Read what the archiver writes of each job in one call: the job's hash and its kept log
-- lines.
-- ARGV: 1 key prefix (see keyspace()), then the job ids.
-- Returns, per job in order: the job hash as JSON text (a flat [field, value, ...] array,
-- "{}" when the job is gone), the log hash as a flat field/value list (empty when the job
-- kept no lines). One JSON string per job instead of its fields one by one: the
-- archiver's client parses one string, not a reply element per field.
local K = keyspace(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  out[#out + 1] = cjson.encode(redis.call('HGETALL', K.job(id)))
  out[#out + 1] = redis.call('HGETALL', K.job_logs(id))
end
return out

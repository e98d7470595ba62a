-- Shared by the store's scripts (loaded after the key prelude): the metric counters.
local METRIC_FINAL = {succeeded = true, failed = true, cancelled = true, lost = true}
-- Add a job's transition to the cumulative metrics of its scopes (see keys.py, m:cum):
-- the queue wait once per job (when queue_wait_s first appears), the outcome, duration,
-- CPU time and peak RSS on the one transition to a final status, a retry on each move to
-- retrying. The callers return before this when the job is already final, so a
-- re-applied final change is never counted twice.
local function record_metrics(M, cur, after, status, new, now)
  local final = new ~= '' and METRIC_FINAL[new]
  local wait = not cur.queue_wait_s and after.queue_wait_s
  local retried = new == 'retrying' and status ~= 'retrying'
  if not (final or wait or retried) then return end
  local scopes = {SCOPE_ALL}
  if after.type then scopes[#scopes + 1] = SCOPE_TYPE .. after.type end
  if after.queue then scopes[#scopes + 1] = SCOPE_QUEUE .. after.queue end
  local res = {}
  if final and after.resources then
    local ok, decoded = pcall(cjson.decode, after.resources)
    if ok and type(decoded) == 'table' then res = decoded end
  end
  local cpu, rss = tonumber(res.cpu_time_s), tonumber(res.peak_rss_bytes)
  local duration = final and tonumber(after.duration_s)
  for _, scope in ipairs(scopes) do
    local key = M.cum(scope)
    if wait then
      local w = tonumber(after.queue_wait_s)
      redis.call('HINCRBY', key, 'w:' .. bucket_index(w), 1)
      redis.call('HINCRBYFLOAT', key, 'ws', w)
    end
    if retried then redis.call('HINCRBY', key, 'n:retried', 1) end
    if final then
      redis.call('HINCRBY', key, 'n:' .. new, 1)
      if duration then
        redis.call('HINCRBY', key, 'd:' .. bucket_index(duration), 1)
        redis.call('HINCRBYFLOAT', key, 'ds', duration)
      end
      if cpu then
        redis.call('HINCRBYFLOAT', key, 'cpu', cpu)
        redis.call('HINCRBY', key, 'cn', 1)
      end
      if rss then redis.call('HINCRBY', key, 'r:' .. bucket_index(rss * 1e-6), 1) end
    end
    redis.call('SADD', M.scopes, scope)
  end
  if final then redis.call('HINCRBY', M.fin, math.floor(now), 1) end
end

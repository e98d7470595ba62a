-- Shared by the store's scripts (loaded after the key prelude): the metric counters.
local METRIC_FINAL = {succeeded = true, failed = true, cancelled = true, lost = true}
-- Add a job's transition to the cumulative metrics of its scopes (see keys.py, m:cum):
-- the queue wait once per job (when queue_wait_s first appears), the outcome, duration,
-- CPU time and peak RSS on the one transition to a final status, a retry on each move to
-- retrying, and a published job (n:published) when this change created its record (the
-- publish change, or a start that reached the store before it). The callers return
-- before this when the job is already final, so a re-applied final change is never
-- counted twice.
local function record_metrics(M, cur, after, status, new, now)
  local final = new ~= '' and METRIC_FINAL[new]
  local wait = not cur.queue_wait_s and after.queue_wait_s
  local retried = new == 'retrying' and status ~= 'retrying'
  local published = not status
  if not (final or wait or retried or published) then return end
  local scopes = {SCOPE_ALL}
  if after.type then scopes[#scopes + 1] = SCOPE_TYPE .. after.type end
  if after.queue then scopes[#scopes + 1] = SCOPE_QUEUE .. after.queue end
  local res = {}
  if final and after.resources then
    local ok, decoded = pcall(cjson.decode, after.resources)
    if ok and type(decoded) == 'table' then res = decoded end
  end
  -- (field, integer increment) pairs, the same for every scope; sums in microseconds
  local incr = {}
  local function add(field, n) incr[#incr + 1] = field; incr[#incr + 1] = n end
  local function micro(x) return math.floor(x * 1e6 + 0.5) end
  if wait then
    local w = tonumber(after.queue_wait_s)
    add('w:' .. bucket_index(w), 1)
    add('ws', micro(w))
  end
  if published then add('n:published', 1) end
  if retried then add('n:retried', 1) end
  if final then
    add('n:' .. new, 1)
    local duration = tonumber(after.duration_s)
    if duration then add('d:' .. bucket_index(duration), 1); add('ds', micro(duration)) end
    local cpu, rss = tonumber(res.cpu_time_s), tonumber(res.peak_rss_bytes)
    if cpu then add('cpu', micro(cpu)); add('cn', 1) end
    if rss then add('r:' .. bucket_index(rss * 1e-6), 1) end
  end
  for _, scope in ipairs(scopes) do
    local key, fresh = M.cum(scope), false
    for i = 1, #incr, 2 do
      if redis.call('HINCRBY', key, incr[i], incr[i + 1]) == incr[i + 1] then fresh = true end
    end
    -- a new field, so maybe a new hash: the scope joins the set (a no-op if known)
    if fresh then redis.call('SADD', M.scopes, scope) end
  end
  if final then redis.call('HINCRBY', M.fin, math.floor(now), 1) end
end

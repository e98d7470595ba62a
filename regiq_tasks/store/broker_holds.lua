-- Which of some job ids a kombu Redis broker still holds a task message of: in a queue's
-- lists (one per priority step) or in the hash of messages delivered but unacknowledged.
-- A message names its job as "id": "<id>" in its headers.
-- KEYS: the queue's lists, then the unacknowledged hash (last)
-- ARGV: 1 the most messages to read (more: nothing is read, -1 is returned), 2.. job ids
-- Returns the ids held; -1 (too many to read) or -2 (a message whose id was not found:
-- nothing can be judged missing).
local limit = tonumber(ARGV[1])
local lists, hash = #KEYS - 1, KEYS[#KEYS]
local total, lengths = redis.call('HLEN', hash), {}
for i = 1, lists do
  lengths[i] = redis.call('LLEN', KEYS[i])
  total = total + lengths[i]
end
if total > limit then return -1 end
local wanted, held, unreadable = {}, {}, 0
for i = 2, #ARGV do wanted[ARGV[i]] = true end
-- the first "id" of a message is its headers' (kombu writes body, content-encoding,
-- content-type, then headers: lang, task, id): a plain find, no pattern, as Redis
-- waits for the script
local function look(message)
  local _, stop = string.find(message, '"id": "', 1, true)
  if not stop then _, stop = string.find(message, '"id":"', 1, true) end
  local close = stop and string.find(message, '"', stop + 1, true)
  if not close then unreadable = unreadable + 1 return end
  local id = string.sub(message, stop + 1, close - 1)
  if wanted[id] then
    wanted[id] = nil
    held[#held + 1] = id
  end
end
local CHUNK = 1000
for i = 1, lists do
  for start = 0, lengths[i] - 1, CHUNK do
    for _, message in ipairs(redis.call('LRANGE', KEYS[i], start, start + CHUNK - 1)) do
      look(message)
    end
  end
end
for _, message in ipairs(redis.call('HVALS', hash)) do look(message) end
if unreadable > 0 then return -2 end
return held

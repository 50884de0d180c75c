-- Settlement of one call: replace its reservation by its actual usage (refund or top-up), atomically.
--
-- KEYS[1] live reservations (hash)   KEYS[2] reservation deadlines (zset)   KEYS[3..] counters, buckets
-- ARGV[1] JSON {now, rid, tokens, cost, budgets: [[key, is_usd, limit, thresholds, expire_at]],
--               tpm: [[key, reserved]]}
--
-- What the reservation holds is read from its own record (written by admit.lua). When it already
-- expired (and was released), only the actual usage is added: the counters end up exact either way. Returns JSON {c = [[budget index, alert level, u after]]}: the
-- thresholds (percent of the limit) that settled usage reached for the first time this period.
local p = cjson.decode(ARGV[1])
local function int(x) return string.format('%d', x) end
-- Counters expire relative to the caller's clock (tests move it; Redis keeps real time).
local function ttl(expire_at) return string.format('%d', math.max(60, expire_at - p.now)) end

local record = redis.call('HGET', KEYS[1], p.rid)
local live = record ~= false
local held = {}
if live then
  for _, item in ipairs(cjson.decode(record)) do held[item[1]] = item[2] end
  redis.call('HDEL', KEYS[1], p.rid)
end
redis.call('ZREM', KEYS[2], p.rid)

local crossings = {}
for i, budget in ipairs(p.budgets) do
  local key = budget[1]
  local actual = p.tokens
  if budget[2] == 1 then actual = p.cost end
  if held[key] then redis.call('HINCRBY', key, 'r', int(-held[key])) end
  local used = redis.call('HINCRBY', key, 'u', int(actual))
  redis.call('HSET', key, 't', tostring(p.now))
  -- The counter had its expiry when the reservation was made; set it again only when it may not have
  -- (no reservation, or this settlement is the counter's first usage: it may have been re-created).
  if not held[key] or used == actual then redis.call('EXPIRE', key, ttl(budget[5])) end
  local level = 0
  for _, threshold in ipairs(budget[4]) do
    if used * 100 >= threshold * budget[3] and threshold > level then level = threshold end
  end
  if level > 0 and level > (tonumber(redis.call('HGET', key, 'a')) or 0) then
    redis.call('HSET', key, 'a', level)
    crossings[#crossings + 1] = {i, level, used}
  end
end

if live then
  for _, bucket in ipairs(p.tpm) do
    if redis.call('EXISTS', bucket[1]) == 1 then
      redis.call('HINCRBYFLOAT', bucket[1], 'v', bucket[2] - p.tokens)
    end
  end
end
return cjson.encode({c = crossings})

-- Settlement of one call: replace its reservation by its actual usage (refund or top-up), atomically.
--
-- KEYS[1] live reservations (hash)   KEYS[2] reservation deadlines (zset)
-- KEYS[3 .. 2+n] the n budget counters, then the tokens-per-minute buckets
-- ARGV    now, rid, tokens, cost, only_if_live (0/1), n, then per budget: is_usd (0/1), limit,
--         expire_at, thresholds count, the thresholds; then per tokens-per-minute bucket: the amount it
--         reserved
--
-- What the reservation holds is read from its own record (written by admit.lua). When it already
-- expired (and was released), only the actual usage is added: the counters end up exact either way.
-- With only_if_live, a reservation that is no longer there changes nothing: a settlement sent again
-- because the first one's answer never came (it may have run) cannot count the usage twice.
-- Returns a flat list {budget index, alert level, u after, ...}: the thresholds (percent of the limit)
-- that settled usage reached for the first time this period.
local now, rid, tokens, cost = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local n = tonumber(ARGV[6])
local function int(x) return string.format('%d', x) end
-- Counters expire relative to the caller's clock (tests move it; Redis keeps real time).
local function ttl(expire_at) return string.format('%d', math.max(60, expire_at - now)) end

local record = redis.call('HGET', KEYS[1], rid)
local live = record ~= false
local held = {}
if live then
  for _, item in ipairs(cjson.decode(record)) do held[item[1]] = item[2] end
  redis.call('HDEL', KEYS[1], rid)
end
if not live and ARGV[5] == '1' then return {} end
redis.call('ZREM', KEYS[2], rid)

local crossings = {}
local at = 7
for i = 1, n do
  local key, limit, expire_at = KEYS[2 + i], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  local actual = tokens
  if ARGV[at] == '1' then actual = cost end
  local count = tonumber(ARGV[at + 3])
  if held[key] then redis.call('HINCRBY', key, 'r', int(-held[key])) end
  local used = redis.call('HINCRBY', key, 'u', int(actual))
  redis.call('HSET', key, 't', ARGV[1])
  -- The counter had its expiry when the reservation was made; set it again only when it may not have
  -- (no reservation, or this settlement is the counter's first usage: it may have been re-created).
  if not held[key] or used == actual then redis.call('EXPIRE', key, ttl(expire_at)) end
  local level = 0
  for k = at + 4, at + 3 + count do
    local threshold = tonumber(ARGV[k])
    if used * 100 >= threshold * limit and threshold > level then level = threshold end
  end
  if level > 0 and level > (tonumber(redis.call('HGET', key, 'a')) or 0) then
    redis.call('HSET', key, 'a', level)
    crossings[#crossings + 1] = i
    crossings[#crossings + 1] = level
    crossings[#crossings + 1] = used
  end
  at = at + 4 + count
end

if live then
  for k = 3 + n, #KEYS do
    if redis.call('EXISTS', KEYS[k]) == 1 then
      redis.call('HINCRBYFLOAT', KEYS[k], 'v', tonumber(ARGV[at]) - tokens)
    end
    at = at + 1
  end
end
return crossings

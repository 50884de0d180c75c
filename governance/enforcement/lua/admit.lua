-- Admission of one call: check every limit that applies and reserve its worst case, atomically.
--
-- KEYS[1] policy version (string)          KEYS[2] live reservations (hash rid -> JSON [[key, amount]])
-- KEYS[3] reservation deadlines (zset)     KEYS[4 .. 3+n] the n rate buckets, then the budget counters
-- ARGV    now, rid, deadline, mode, n, then per rate: limit/min, amount; then per budget: limit, amount,
--         amount_if_downgraded, has_100_threshold (0/1), expire_at
-- (flat arguments and a flat reply: no JSON to encode or parse on either side of the hot path's round trip)
--
-- Budget counter: hash {u = settled actual usage, r = held by live reservations, t = last settlement,
-- a = highest alert level already raised}. Rate bucket: hash {v = level, t = time of v}; it refills
-- limit/60 per second up to limit (a token bucket), and a call needs min(amount, limit) of it.
-- Nothing is changed unless the call is admitted (apart from releasing expired reservations and
-- remembering an alert level).
-- Returns {status ("ok" | "rate" | "budget"), version, over (index of the first budget the call does not
-- fit, or 0), rf (index of the binding rate, or 0), ra (seconds until it would fit, string), al (alert
-- level raised, or 0), then per rate: level after, seconds to full (strings; none when refused for a
-- budget), then per budget: u, r (before this call)}.
local now, rid, deadline, mode = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local n = tonumber(ARGV[5])
local rates, budgets = {}, {}
for i = 1, n do
  rates[i] = {KEYS[3 + i], tonumber(ARGV[4 + 2 * i]), tonumber(ARGV[5 + 2 * i])}
end
local at = 6 + 2 * n
for i = 1, #KEYS - 3 - n do
  local j = at + 5 * (i - 1)
  budgets[i] = {KEYS[3 + n + i], tonumber(ARGV[j]), tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2]),
                tonumber(ARGV[j + 3]), tonumber(ARGV[j + 4])}
end
local function int(x) return string.format('%d', x) end
-- Counters expire relative to the caller's clock (tests move it; Redis keeps real time).
local function ttl(expire_at) return string.format('%d', math.max(60, expire_at - now)) end

-- 1. Release reservations whose deadline passed (a process died before settling them).
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 64)
for _, old in ipairs(expired) do
  local raw = redis.call('HGET', KEYS[2], old)
  if raw then
    for _, item in ipairs(cjson.decode(raw)) do
      if redis.call('EXISTS', item[1]) == 1 then
        redis.call('HINCRBY', item[1], 'r', int(-item[2]))
      end
    end
    redis.call('HDEL', KEYS[2], old)
  end
  redis.call('ZREM', KEYS[3], old)
end

-- 2. Rate limits (token buckets).
local levels = {}
local rf, ra = 0, 0
for i, rate in ipairs(rates) do
  local state = redis.call('HMGET', rate[1], 'v', 't')
  local limit, per_s = rate[2], rate[2] / 60
  local level = tonumber(state[1])
  if level == nil then
    level = limit
  else
    level = math.min(limit, level + math.max(0, now - tonumber(state[2])) * per_s)
  end
  levels[i] = level
  local need = math.min(rate[3], limit)
  if level < need then
    local wait = (need - level) / per_s
    if wait > ra then rf, ra = i, wait end
  end
end

-- 3. Budgets: settled usage + live reservations + this call must fit the limit.
local bs, over, fresh = {}, 0, {}
for i, budget in ipairs(budgets) do
  local state = redis.call('HMGET', budget[1], 'u', 'r')
  local u, r = tonumber(state[1]) or 0, tonumber(state[2]) or 0
  fresh[i] = state[1] == false and state[2] == false  -- a counter this call creates
  bs[2 * i - 1], bs[2 * i] = u, r
  if over == 0 and u + r + budget[3] > budget[2] then over = i end
end

local version = tonumber(redis.call('GET', KEYS[1]) or '0')
local alert = 0

-- An exceeded budget raises its 100 % alert once per period: always when the policy warns or
-- downgrades (they promise to notify), when it blocks only if 100 is one of its thresholds.
if over > 0 and (mode ~= 'block' or budgets[over][5] == 1) then
  local key = budgets[over][1]
  if (tonumber(redis.call('HGET', key, 'a')) or 0) < 100 then
    redis.call('HSET', key, 'a', 100)
    redis.call('EXPIRE', key, ttl(budgets[over][6]))
    alert = 100
  end
end

local function reply(status, rs)
  local out = {status, version, over, rf, tostring(ra), alert}
  for _, value in ipairs(rs) do out[#out + 1] = value end
  for _, value in ipairs(bs) do out[#out + 1] = value end
  return out
end

if over > 0 and mode == 'block' then
  return reply('budget', {})
end
local rs = {}
if rf > 0 then
  for i, rate in ipairs(rates) do
    rs[2 * i - 1], rs[2 * i] = tostring(levels[i]), tostring((rate[2] - levels[i]) / (rate[2] / 60))
  end
  return reply('rate', rs)
end

-- 4. Admit: take from the buckets, hold the budgets, remember the reservation and its deadline.
for i, rate in ipairs(rates) do
  local level = levels[i] - rate[3]
  redis.call('HSET', rate[1], 'v', tostring(level), 't', ARGV[1])
  redis.call('EXPIRE', rate[1], 120)
  rs[2 * i - 1], rs[2 * i] = tostring(level), tostring((rate[2] - level) / (rate[2] / 60))
end
local downgraded = over > 0 and mode == 'downgrade'
local items = {}
for i, budget in ipairs(budgets) do
  local amount = budget[3]
  if downgraded then amount = budget[4] end
  redis.call('HINCRBY', budget[1], 'r', int(amount))
  -- A counter's expiry is its period's end (plus grace): set when the counter is created, and by
  -- every write that may create it (settle.lua, an alert), never moved.
  if fresh[i] then redis.call('EXPIRE', budget[1], ttl(budget[6])) end
  items[i] = {budget[1], amount}
end
if #items > 0 or n > 0 then
  redis.call('HSET', KEYS[2], rid, cjson.encode(items))
  redis.call('ZADD', KEYS[3], deadline, rid)
end
return reply('ok', rs)

-- Admission of one call: check every limit that applies and reserve its worst case, atomically.
--
-- KEYS[1] policy version (string)          KEYS[2] live reservations (hash rid -> JSON [[key, amount]])
-- KEYS[3] reservation deadlines (zset)     KEYS[4..] the counters and buckets named in ARGV (same slot)
-- ARGV[1] JSON {now, rid, deadline, mode, rates: [[key, limit/min, amount]],
--               budgets: [[key, limit, amount, amount_if_downgraded, has_100_threshold, expire_at]]}
--
-- Budget counter: hash {u = settled actual usage, r = held by live reservations, t = last settlement,
-- a = highest alert level already raised}. Rate bucket: hash {v = level, t = time of v}; it refills
-- limit/60 per second up to limit (a token bucket), and a call needs min(amount, limit) of it.
-- Nothing is changed unless the call is admitted (apart from releasing expired reservations and
-- remembering an alert level).
-- Returns JSON {s = "ok" | "rate" | "budget", v = version, over = index of the first budget the call
-- does not fit (or 0), rf = index of the binding rate (or 0), ra = seconds until it would fit,
-- rs = [[level after, seconds to full]], bs = [[u, r]] (before this call), al = alert level raised}.
local p = cjson.decode(ARGV[1])
local now = p.now
local function int(x) return string.format('%d', x) end
-- Counters expire relative to the caller's clock (tests move it; Redis keeps real time).
local function ttl(expire_at) return string.format('%d', math.max(60, expire_at - p.now)) end

-- 1. Release reservations whose deadline passed (a process died before settling them).
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 64)
for _, rid in ipairs(expired) do
  local raw = redis.call('HGET', KEYS[2], rid)
  if raw then
    for _, item in ipairs(cjson.decode(raw)) do
      if redis.call('EXISTS', item[1]) == 1 then
        redis.call('HINCRBY', item[1], 'r', int(-item[2]))
      end
    end
    redis.call('HDEL', KEYS[2], rid)
  end
  redis.call('ZREM', KEYS[3], rid)
end

-- 2. Rate limits (token buckets).
local levels, rs = {}, {}
local rf, ra = 0, 0
for i, rate in ipairs(p.rates) do
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
for i, budget in ipairs(p.budgets) do
  local state = redis.call('HMGET', budget[1], 'u', 'r')
  local u, r = tonumber(state[1]) or 0, tonumber(state[2]) or 0
  fresh[i] = state[1] == false and state[2] == false  -- a counter this call creates
  bs[i] = {u, r}
  if over == 0 and u + r + budget[3] > budget[2] then over = i end
end

local version = tonumber(redis.call('GET', KEYS[1]) or '0')
local result = {v = version, over = over, rf = rf, ra = ra, bs = bs, al = 0}

-- An exceeded budget raises its 100 % alert once per period: always when the policy warns or
-- downgrades (they promise to notify), when it blocks only if 100 is one of its thresholds.
if over > 0 and (p.mode ~= 'block' or p.budgets[over][5] == 1) then
  local key = p.budgets[over][1]
  if (tonumber(redis.call('HGET', key, 'a')) or 0) < 100 then
    redis.call('HSET', key, 'a', 100)
    redis.call('EXPIRE', key, ttl(p.budgets[over][6]))
    result.al = 100
  end
end

if over > 0 and p.mode == 'block' then
  result.s = 'budget'
  return cjson.encode(result)
end
if rf > 0 then
  result.s = 'rate'
  for i, rate in ipairs(p.rates) do rs[i] = {levels[i], (rate[2] - levels[i]) / (rate[2] / 60)} end
  result.rs = rs
  return cjson.encode(result)
end

-- 4. Admit: take from the buckets, hold the budgets, remember the reservation and its deadline.
for i, rate in ipairs(p.rates) do
  local level = levels[i] - rate[3]
  redis.call('HSET', rate[1], 'v', tostring(level), 't', tostring(now))
  redis.call('EXPIRE', rate[1], 120)
  rs[i] = {level, (rate[2] - level) / (rate[2] / 60)}
end
local downgraded = over > 0 and p.mode == 'downgrade'
local items = {}
for i, budget in ipairs(p.budgets) do
  local amount = budget[3]
  if downgraded then amount = budget[4] end
  redis.call('HINCRBY', budget[1], 'r', int(amount))
  -- A counter's expiry is its period's end (plus grace): set when the counter is created, and by
  -- every write that may create it (settle.lua, an alert), never moved.
  if fresh[i] then redis.call('EXPIRE', budget[1], ttl(budget[6])) end
  items[i] = {budget[1], amount}
end
if #items > 0 or #p.rates > 0 then
  redis.call('HSET', KEYS[2], p.rid, cjson.encode(items))
  redis.call('ZADD', KEYS[3], p.deadline, p.rid)
end
result.s = 'ok'
result.rs = rs
return cjson.encode(result)

-- Reconciliation of budget counters with the ledger, atomically with respect to admissions.
--
-- KEYS[1] live reservations (hash)   KEYS[2] reservation deadlines (zset)   KEYS[3..] the counters
-- ARGV[1] JSON {now, counters: [[key, u seen, t seen, u from the ledger (-1: leave), expire_at]]}
--   ("u seen" is -1 for a missing counter, "t seen" "" for one never settled)
-- Releases expired reservations; sets ``u`` to the ledger's figure only when the counter is still
-- exactly as seen (no settlement in between: compare-and-set); recomputes ``r`` from the live
-- reservations. Returns JSON [[u repaired (0/1), r repaired (0/1)]] per counter.
local p = cjson.decode(ARGV[1])
local function int(x) return string.format('%d', x) end
-- Counters expire relative to the caller's clock (tests move it; Redis keeps real time).
local function ttl(expire_at) return string.format('%d', math.max(60, expire_at - p.now)) end

local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', p.now)
for _, rid in ipairs(expired) do
  local raw = redis.call('HGET', KEYS[1], rid)
  if raw then
    for _, item in ipairs(cjson.decode(raw)) do
      if redis.call('EXISTS', item[1]) == 1 then redis.call('HINCRBY', item[1], 'r', int(-item[2])) end
    end
    redis.call('HDEL', KEYS[1], rid)
  end
  redis.call('ZREM', KEYS[2], rid)
end

local held = {}
local live = redis.call('HGETALL', KEYS[1])
for i = 2, #live, 2 do
  for _, item in ipairs(cjson.decode(live[i])) do held[item[1]] = (held[item[1]] or 0) + item[2] end
end

local out = {}
for i, c in ipairs(p.counters) do
  local key = c[1]
  local state = redis.call('HMGET', key, 'u', 't', 'r')
  local u = tonumber(state[1]) or -1
  if state[1] == false then u = -1 end
  local t = state[2] or ''
  local fixed_u, fixed_r = 0, 0
  if c[4] >= 0 and u == c[2] and t == c[3] and u ~= c[4] then
    redis.call('HSET', key, 'u', int(c[4]))
    redis.call('EXPIRE', key, ttl(c[5]))
    fixed_u = 1
  end
  if redis.call('EXISTS', key) == 1 and (tonumber(state[3]) or 0) ~= (held[key] or 0) then
    redis.call('HSET', key, 'r', int(held[key] or 0))
    fixed_r = 1
  end
  out[i] = {fixed_u, fixed_r}
end
return cjson.encode(out)

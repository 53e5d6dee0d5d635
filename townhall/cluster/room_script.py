"""The Lua script behind `cluster.redis_room`: one waiting room's every call, atomic in Redis.

Each call first expires what lapsed (seats, provisional seats, unclaimed grants, waiters who
stopped polling; bounded per call), admits from the head of the line while the cap allows,
then does the operation and answers with the room's numbers and its birth mark. Same rules as
the in-process `admission.waiting_room.WaitingRoom`, provisional seats and network shares
included: a new seat is provisional (`prov`, lives `provisional_s`) until its holder renews it
at least a fifth of that later; one network (its /24 or /64, computed by the caller) holds at
most `share` seats (`held` counts them, `network` names each seat's or waiter's network), and a
share as large as the cap binds nothing; a newcomer that may not wait evicts a provisional
seat (of the network holding the most among the oldest 256, then the oldest) before it is
refused. The keys are listed in `cluster.redis_room`. A seat taken back without a network
(Redis restarted empty, or the seat was kept while Redis was away) is counted in the network
the caller names at its renewal, so the shares hold through a rebuild; every admission and
renewal answers with the seat's network, which the origins remember for that.
"""

from __future__ import annotations

KEYS = ("seats", "granted", "queue", "polled", "serial", "freed", "admitted", "born", "prov",
        "network", "held")
# ARGV: op, now, cap (-1: none), ttl, grace, max queue, new seat id, token, seat, keep (0/1),
# a birth mark (kept if the room exists), provisional lifetime (0: seats are full at once),
# network share (-1: none), the caller's network ("": unknown; at a renewal: the seat's, as
# the origin knows it), wait (0/1)
ROOM_LUA = """
local seats, granted, queue, polled = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prov, network, held = KEYS[9], KEYS[10], KEYS[11]
local op, now, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl, grace, maxq = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local newseat, token, seat, keep = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local provs, share, net, wait = tonumber(ARGV[12]), tonumber(ARGV[13]), ARGV[14], ARGV[15]
-- when this room's state began: a Redis that restarted empty gives it a new birth
redis.call('SET', KEYS[8], ARGV[11], 'NX')
local born = redis.call('GET', KEYS[8])
local event = ''  -- 'c': a provisional seat was confirmed; 'e': one was evicted
local function fmt(x) return string.format('%.3f', x) end
local function occupied()
  return redis.call('ZCARD', seats) + redis.call('ZCARD', prov) + redis.call('ZCARD', granted)
end
local function room() return cap < 0 or occupied() < cap end
local function freeing(n)
  for i = 1, math.min(n, 256) do redis.call('LPUSH', KEYS[6], fmt(now)) end
  if n > 0 then redis.call('LTRIM', KEYS[6], 0, 255) end
end
local function hold(id, n)
  if n and n ~= '' then
    redis.call('HSET', network, id, n)
    redis.call('HINCRBY', held, n, 1)
  end
end
local function release(id)
  local n = redis.call('HGET', network, id)
  if n then
    redis.call('HDEL', network, id)
    if redis.call('HINCRBY', held, n, -1) <= 0 then redis.call('HDEL', held, n) end
  end
end
local function expire(key, counted)
  local gone = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(gone) do
    redis.call('ZREM', key, id)
    -- a seat counts in its network's share; a grant not yet claimed only names it
    if counted then release(id) else redis.call('HDEL', network, id) end
  end
  return #gone
end
local function promote()
  while room() do
    local head = redis.call('ZRANGE', queue, 0, 0)[1]
    if not head then break end
    redis.call('ZREM', queue, head)
    redis.call('ZREM', polled, head)
    redis.call('ZADD', granted, now + grace, head)
  end
end
local function seated(id, n, provisional)
  if provisional and cap >= 0 and provs > 0 then
    local expires = now + math.min(provs, ttl)
    redis.call('ZADD', prov, expires, id)
    hold(id, n)
    redis.call('INCR', KEYS[7])
    return {'a', id, fmt(expires)}
  end
  redis.call('ZADD', seats, now + ttl, id)
  hold(id, n)
  redis.call('INCR', KEYS[7])
  return {'a', id, fmt(now + ttl)}
end
local function evict()
  local victim, most = nil, -1
  for _, id in ipairs(redis.call('ZRANGE', prov, 0, 255)) do
    local n = redis.call('HGET', network, id)
    local count = n and tonumber(redis.call('HGET', held, n) or '0') or 0
    if count > most then victim, most = id, count end
  end
  if not victim then return false end
  redis.call('ZREM', prov, victim)
  release(victim)
  event = 'e'
  return true
end
local function status(t)
  if redis.call('ZSCORE', granted, t) then
    redis.call('ZREM', granted, t)
    local n = redis.call('HGET', network, t)
    redis.call('HDEL', network, t)
    return seated(newseat, n, false)  -- it waited in line, polling: a full seat
  end
  local rank = redis.call('ZRANK', queue, t)
  if not rank then return {'x', '', ''} end
  return {'q', t, tostring(rank + 1)}
end
-- expire lapsed seats, unclaimed grants and waiters who stopped polling (bounded per call)
local freed = expire(seats, true) + expire(prov, true) + expire(granted, false)
freeing(freed)
local stale = redis.call('ZRANGEBYSCORE', polled, '-inf', now - grace, 'LIMIT', 0, 1000)
for _, t in ipairs(stale) do
  redis.call('ZREM', queue, t); redis.call('ZREM', polled, t); redis.call('HDEL', network, t)
end
promote()
local out = {'s', '', ''}
if op == 'join' then
  -- a share as large as the pool binds nothing: that network's next listener waits in line
  if net ~= '' and share >= 0 and share < cap
      and tonumber(redis.call('HGET', held, net) or '0') >= share then
    out = {'h', '', ''}
  elseif redis.call('ZCARD', queue) == 0 and (room() or (wait == '0' and evict())) then
    out = seated(newseat, net, true)
  elseif wait == '0' then
    out = {'u', '', ''}
  elseif redis.call('ZCARD', queue) >= maxq then
    out = {'f', '', ''}
  else
    redis.call('ZADD', queue, redis.call('INCR', KEYS[5]), token)
    redis.call('ZADD', polled, now, token)
    if net ~= '' then redis.call('HSET', network, token, net) end
    promote()
    out = status(token)
  end
elseif op == 'poll' then
  out = status(token)
  if out[1] == 'q' then redis.call('ZADD', polled, now, token) end
elseif op == 'renew' then
  local pexp = redis.call('ZSCORE', prov, seat)
  if pexp and now < tonumber(pexp) - provs * 0.8 then
    out = {'r', seat, fmt(tonumber(pexp))}  -- too soon to have played: still provisional
  elseif pexp or redis.call('ZSCORE', seats, seat) or keep == '1' then
    if pexp then redis.call('ZREM', prov, seat); event = 'c' end
    redis.call('ZADD', seats, now + ttl, seat)
    -- taken back after Redis lost it (or kept while Redis was away): its network's share
    -- counts it again, as the origin knew it
    if not redis.call('HGET', network, seat) then hold(seat, net) end
    out = {'r', seat, fmt(now + ttl)}
  else
    out = {'n', '', ''}
  end
elseif op == 'leave' then
  if redis.call('ZREM', seats, seat) + redis.call('ZREM', prov, seat) > 0 then
    release(seat)
    freeing(1)
  end
  promote()
end
local recent, earliest = 0, now
for _, t in ipairs(redis.call('LRANGE', KEYS[6], 0, 255)) do
  local at = tonumber(t)
  if at > now - 60 then recent = recent + 1; earliest = math.min(earliest, at) end
end
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], 86400) end
local seatnet = ''  -- the network of the seat admitted or renewed, for the origins to keep
if out[1] == 'a' or out[1] == 'r' then seatnet = redis.call('HGET', network, out[2]) or '' end
return {out[1], out[2], out[3], occupied(), redis.call('ZCARD', queue), recent, fmt(earliest),
        born, redis.call('ZCARD', prov), event, seatnet}
"""


def room_keys(space_id: str) -> list[str]:
    return [f"townhall:room:{{{space_id}}}:{name}" for name in KEYS]

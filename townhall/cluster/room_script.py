"""The Lua script behind `cluster.redis_room`: one waiting room's every call, atomic in Redis.

Each call first expires what lapsed (seats, unclaimed grants, waiters who stopped polling;
bounded per call), admits from the head of the line while the cap allows, then does the
operation and answers with the room's numbers and its birth mark. Same rules as the in-process
`admission.waiting_room.WaitingRoom`; the keys are listed in `cluster.redis_room`.
"""

from __future__ import annotations

KEYS = ("seats", "granted", "queue", "polled", "serial", "freed", "admitted", "born")
# ARGV: op, now, cap (-1: none), ttl, grace, max queue, new seat id, token, seat, keep (0/1),
# a birth mark (kept if the room exists)
ROOM_LUA = """
local seats, granted, queue, polled = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, now, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl, grace, maxq = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local newseat, token, seat, keep = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
-- when this room's state began: a Redis that restarted empty gives it a new birth
redis.call('SET', KEYS[8], ARGV[11], 'NX')
local born = redis.call('GET', KEYS[8])
local function fmt(x) return string.format('%.3f', x) end
local function room()
  return cap < 0 or redis.call('ZCARD', seats) + redis.call('ZCARD', granted) < cap
end
local function freeing(n)
  for i = 1, math.min(n, 256) do redis.call('LPUSH', KEYS[6], fmt(now)) end
  if n > 0 then redis.call('LTRIM', KEYS[6], 0, 255) end
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
local function seated(id)
  redis.call('ZADD', seats, now + ttl, id)
  redis.call('INCR', KEYS[7])
  return {'a', id, fmt(now + ttl)}
end
local function status(t)
  if redis.call('ZSCORE', granted, t) then
    redis.call('ZREM', granted, t)
    return seated(newseat)
  end
  local rank = redis.call('ZRANK', queue, t)
  if not rank then return {'x', '', ''} end
  return {'q', t, tostring(rank + 1)}
end
-- expire lapsed seats, unclaimed grants and waiters who stopped polling (bounded per call)
local freed = redis.call('ZREMRANGEBYSCORE', seats, '-inf', now)
local lapsed = redis.call('ZRANGEBYSCORE', granted, '-inf', now, 'LIMIT', 0, 1000)
for _, t in ipairs(lapsed) do redis.call('ZREM', granted, t) end
freeing(freed + #lapsed)
local stale = redis.call('ZRANGEBYSCORE', polled, '-inf', now - grace, 'LIMIT', 0, 1000)
for _, t in ipairs(stale) do redis.call('ZREM', queue, t); redis.call('ZREM', polled, t) end
promote()
local out = {'s', '', ''}
if op == 'join' then
  if redis.call('ZCARD', queue) == 0 and room() then
    out = seated(newseat)
  elseif redis.call('ZCARD', queue) >= maxq then
    out = {'f', '', ''}
  else
    redis.call('ZADD', queue, redis.call('INCR', KEYS[5]), token)
    redis.call('ZADD', polled, now, token)
    promote()
    out = status(token)
  end
elseif op == 'poll' then
  out = status(token)
  if out[1] == 'q' then redis.call('ZADD', polled, now, token) end
elseif op == 'renew' then
  if redis.call('ZSCORE', seats, seat) or keep == '1' then
    redis.call('ZADD', seats, now + ttl, seat)
    out = {'r', seat, fmt(now + ttl)}
  else
    out = {'n', '', ''}
  end
elseif op == 'leave' then
  if redis.call('ZREM', seats, seat) == 1 then freeing(1) end
  promote()
end
local recent, earliest = 0, now
for _, t in ipairs(redis.call('LRANGE', KEYS[6], 0, 255)) do
  local at = tonumber(t)
  if at > now - 60 then recent = recent + 1; earliest = math.min(earliest, at) end
end
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], 86400) end
local occupied = redis.call('ZCARD', seats) + redis.call('ZCARD', granted)
return {out[1], out[2], out[3], occupied, redis.call('ZCARD', queue), recent, fmt(earliest),
        born}
"""


def room_keys(space_id: str) -> list[str]:
    return [f"townhall:room:{{{space_id}}}:{name}" for name in KEYS]

"""Rate limits shared by several origins through Redis: the same GCRA, computed in Redis.

One Lua script checks the address budget, then the network budget, atomically, using Redis's
own clock so origins with skewed clocks agree. If Redis is unreachable the limiter fails
open (and counts it): a limits outage must not become an audience outage.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from townhall.admission.rate_limit import Rate, network_of

log = logging.getLogger("townhall.limits")

# KEYS: address key, network key. ARGV: interval_a, tolerance_a, interval_n, tolerance_n.
GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function check(key, interval, tolerance)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  if tat - now > tolerance then return tat - now - tolerance end
  local new = tat + interval
  redis.call('SET', key, tostring(new), 'PX', math.ceil((new - now) * 1000) + 1000)
  return -1
end
local w = check(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
if w >= 0 then return tostring(w) end
w = check(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
if w >= 0 then return tostring(w) end
return '-1'
"""


def _args(rate: Rate) -> tuple[float, float]:
    interval = 1.0 / rate.per_second
    return interval, interval * (rate.burst - 1)


class RedisClientLimiter:
    def __init__(self, client: aioredis.Redis, name: str, per_address: Rate,
                 per_network: Rate) -> None:
        self.client = client
        self.name = name
        self._script = client.register_script(GCRA_LUA)
        self._argv = [*_args(per_address), *_args(per_network)]
        self.errors = 0

    async def allow(self, address: str, now: float) -> tuple[bool, float]:
        keys = [f"townhall:rl:{self.name}:a:{address}",
                f"townhall:rl:{self.name}:n:{network_of(address)}"]
        try:
            wait = float(await self._script(keys=keys, args=self._argv))
        except (RedisError, OSError) as exc:
            self.errors += 1
            if self.errors % 1000 == 1:
                log.warning("redis rate limit unavailable (%s); allowing", exc)
            return True, 0.0
        return (True, 0.0) if wait < 0 else (False, wait)

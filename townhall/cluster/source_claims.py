"""Which push source of a space is on air, cluster-wide: the newest one anywhere wins.

A push source that sends audio that decodes claims its space (`claim`: it overwrites, as a
newer source takes over on one origin) and renews the claim while it lasts (`renew`: False
once another source claimed it since: that one took over, this one must end with 409). The
claim lapses `ttl_s` after its origin died, and a Redis restarted empty is claimed again by
the next renewal. Redis key `townhall:source:{space}` = "<origin>/<source>" (PX ttl). Every
Redis failure surfaces as `ClusterUnavailable`; callers fail open (the source goes on).
One process alone needs none of this: its spaces hold one source each in memory.
"""

from __future__ import annotations

from typing import Protocol

from redis.exceptions import RedisError

from townhall.cluster.base import ClusterUnavailable
from townhall.cluster.redis_connect import connect

KEY = "townhall:source:"
# KEYS: claim. ARGV: who, ttl ms. 1: still ours (renewed, or taken again after Redis lost it)
RENEW_LUA = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if cur == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""
# KEYS: claim. ARGV: who
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class SourceClaims(Protocol):
    async def claim(self, space_id: str, who: str) -> None:
        """`who` is the space's source on air now (a newer source takes over)."""

    async def renew(self, space_id: str, who: str) -> bool:
        """Keep the claim; False if another source claimed the space since."""

    async def release(self, space_id: str, who: str) -> None:
        """The source ended (only its own claim is removed)."""

    async def close(self) -> None: ...


class RedisSourceClaims:
    def __init__(self, url: str, *, ttl_s: float, timeout_s: float) -> None:
        self.client = connect(url, timeout_s=timeout_s)
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._renew = self.client.register_script(RENEW_LUA)
        self._release = self.client.register_script(RELEASE_LUA)

    async def claim(self, space_id: str, who: str) -> None:
        try:
            await self.client.set(KEY + space_id, who, px=self._ttl_ms)
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None

    async def renew(self, space_id: str, who: str) -> bool:
        try:
            return bool(await self._renew(keys=[KEY + space_id], args=[who, self._ttl_ms]))
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None

    async def release(self, space_id: str, who: str) -> None:
        try:
            await self._release(keys=[KEY + space_id], args=[who])
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None

    async def close(self) -> None:
        await self.client.aclose()

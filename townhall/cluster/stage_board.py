"""The stage as its program's origin sees it, for every origin: who is on stage, muted,
speaking now, how many hands are up.

The origin holding a live space's program (where its WHIP sessions are) posts the stage part
of the space's details (`post`, JSON, every `stage_share_s`, with a TTL of `stage_share_ttl_s`);
the other origins read it (`read`, one MGET for all their live spaces) and show it in the
details they serve, so details answered by any origin, before and after a failover, show one
stage. The TTL makes a dead holder's stage lapse by itself. Redis key
`townhall:stage:{space}`. Every Redis failure surfaces as `ClusterUnavailable`; the caller
shows its own view. One process alone needs none of this.
"""

from __future__ import annotations

from typing import Protocol

from redis.exceptions import RedisError

from townhall.cluster.base import ClusterUnavailable
from townhall.cluster.redis_connect import connect

KEY = "townhall:stage:"


class StageBoard(Protocol):
    async def post(self, stages: dict[str, bytes]) -> None:
        """These spaces' stages (JSON) as this origin, their program's holder, has them."""

    async def read(self, space_ids: list[str]) -> dict[str, bytes]:
        """The stages posted for these spaces (a space with none posted is left out)."""

    async def close(self) -> None: ...


class RedisStageBoard:
    def __init__(self, url: str, *, ttl_s: float, timeout_s: float) -> None:
        self.client = connect(url, timeout_s=timeout_s)
        self._ttl_ms = max(1, round(ttl_s * 1000))

    async def post(self, stages: dict[str, bytes]) -> None:
        if not stages:
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for space_id, doc in stages.items():
                    pipe.set(KEY + space_id, doc, px=self._ttl_ms)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None

    async def read(self, space_ids: list[str]) -> dict[str, bytes]:
        if not space_ids:
            return {}
        try:
            values = await self.client.mget([KEY + sid for sid in space_ids])
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None
        return {sid: v.encode() if isinstance(v, str) else bytes(v)
                for sid, v in zip(space_ids, values, strict=True) if v}

    async def close(self) -> None:
        await self.client.aclose()

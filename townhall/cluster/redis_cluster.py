"""The cluster's shared fast state in Redis: leases, part streams, live set, listener counts.

Keys (all under `townhall:`): `lease:{space}` = holder origin (PX ttl), `want:{space}` = origin
that has the source (PX), `end:{space}` (PX), `parts:{space}` (stream, capped), `live` (set of
space ids, refreshed with each renewal), `aud:{space}` (hash origin -> "count:expires");
`news` (pub/sub channel: "topic id origin", security state changed); capped spaces'
waiting rooms are `cluster.redis_room`.
Appends are fenced by the lease in one Lua script, so a deposed holder cannot publish. Every
Redis failure surfaces as `ClusterUnavailable` after `timeout_s`; nothing here retries.

Redis replicates asynchronously: a primary that dies can take its last stream entries with it,
and the standbys follow the new primary's stream. So while the primary has replicas (read from
INFO replication every `REPLICAS_CHECK_S`, and again after any failure), an append waits for
one of them to hold it (`WAIT 1 replica_wait_ms`) before the caller publishes the parts; an
append that fails instead is queued by the caller and re-sent, in order, to the new primary
(duplicate ids are skipped). A replica slower than the bound costs no listener a part: the
append goes on, counted in REPLICA_WAIT_SHORT. Connections come from `redis_connect` (a plain
server or a primary found through Sentinel).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from redis.exceptions import RedisError

from townhall.admission.room import LocalRoom, Room
from townhall.admission.waiting_room import WaitingRoom
from townhall.cluster.base import ClusterUnavailable, Renewal
from townhall.cluster.entries import Entry
from townhall.cluster.redis_connect import connect
from townhall.cluster.redis_room import RedisRoom
from townhall.cluster.room_script import ROOM_LUA
from townhall.ops.metrics import REPLICA_WAIT, REPLICA_WAIT_SHORT

P = "townhall:"
SUBTITLES_TTL_S = 600  # a space's published subtitle segments outlive its end this long
REPLICAS_CHECK_S = 2.0  # how often a holder re-reads whether the primary has replicas
log = logging.getLogger("townhall.cluster")

# KEYS: lease, want, end, live. ARGV: origin, ttl ms, space id
RENEW_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) == false then return 'lost' end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[3])
if redis.call('EXISTS', KEYS[3]) == 1 then return 'end' end
local want = redis.call('GET', KEYS[2])
if want and want ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 'hand_over'
end
return 'held'
"""
# KEYS: lease, stream. ARGV: origin, ttl ms, maxlen, then id, blob pairs. Duplicate ids are
# skipped. A lease that vanished (Redis restarted empty) is taken back if nobody else has it.
APPEND_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
elseif holder ~= ARGV[1] then
  return 0
end
for i = 4, #ARGV, 2 do
  redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], ARGV[i], 'e', ARGV[i + 1])
end
return 1
"""
# KEYS: lease. ARGV: origin
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisCluster:
    def __init__(self, url: str, origin: str, *, lease_ttl_s: float, max_entries: int,
                 timeout_s: float, replica_wait_ms: int = 0) -> None:
        self.origin = origin
        self._replica_wait_ms = replica_wait_ms
        self._replicas = 0  # the primary's connected replicas, as last read
        self._replicas_read_at = -REPLICAS_CHECK_S
        self.client = connect(url, timeout_s=timeout_s)
        self._ttl_ms = str(round(lease_ttl_s * 1000))
        self._max_entries = str(max_entries)
        self._renew = self.client.register_script(RENEW_LUA)
        self._append = self.client.register_script(APPEND_LUA)
        self._release = self.client.register_script(RELEASE_LUA)
        self._room = self.client.register_script(ROOM_LUA)

    async def acquire(self, space_id: str) -> bool:
        try:
            got = await self.client.set(P + "lease:" + space_id, self.origin, nx=True,
                                        px=int(self._ttl_ms))
            if got:
                await self.client.sadd(P + "live", space_id)
                return True
            return bool(await self.holder(space_id) == self.origin)
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None

    async def renew(self, space_id: str) -> Renewal:
        keys = [P + "lease:" + space_id, P + "want:" + space_id, P + "end:" + space_id, P + "live"]
        try:
            verdict = await self._renew(keys=keys, args=[self.origin, self._ttl_ms, space_id])
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None
        return Renewal(verdict.decode() if isinstance(verdict, bytes) else str(verdict))

    async def release(self, space_id: str) -> None:
        try:
            await self._release(keys=[P + "lease:" + space_id], args=[self.origin])
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None

    async def holder(self, space_id: str) -> str | None:
        return await self._get(P + "lease:" + space_id)

    async def want(self, space_id: str) -> None:
        try:
            await self.client.set(P + "want:" + space_id, self.origin, px=5000)
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None

    async def wanted_by(self, space_id: str) -> str | None:
        return await self._get(P + "want:" + space_id)

    async def ask_end(self, space_id: str) -> None:
        try:
            await self.client.set(P + "end:" + space_id, self.origin, px=60_000)
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None

    async def _get(self, key: str) -> str | None:
        try:
            value = await self.client.get(key)
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None
        return value.decode() if isinstance(value, bytes) else None

    async def append(self, space_id: str, entries: list[Entry]) -> bool:
        args: list[str | bytes] = [self.origin, self._ttl_ms, self._max_entries]
        for entry in entries:
            args += [entry.stream_id, bytes(entry)]
        keys = [P + "lease:" + space_id, P + "parts:" + space_id]
        try:
            if self._replica_wait_ms > 0 and await self._has_replicas():
                return await self._append_and_wait(keys, args)
            done = await self._append(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            self._replicas_read_at = -REPLICAS_CHECK_S  # a failover: read them again
            raise ClusterUnavailable(str(exc)) from None
        return bool(done)

    async def _has_replicas(self) -> bool:
        now = time.monotonic()
        if now - self._replicas_read_at >= REPLICAS_CHECK_S:
            info = await self.client.info("replication")
            self._replicas = int(info.get("connected_slaves", 0))
            self._replicas_read_at = now
        return self._replicas > 0

    async def _append_and_wait(self, keys: list[str], args: list[str | bytes]) -> bool:
        """The append and `WAIT 1` in one pipeline: WAIT counts the writes made on its own
        connection, so both must go on the same one."""
        t0 = time.monotonic()
        pipe = self.client.pipeline(transaction=False)
        await self._append(keys=keys, args=args, client=pipe)
        pipe.execute_command("WAIT", 1, self._replica_wait_ms)
        done, acked = await pipe.execute()
        REPLICA_WAIT.observe(time.monotonic() - t0)
        if done and int(acked) < 1:
            REPLICA_WAIT_SHORT.inc()
            self._replicas_read_at = -REPLICAS_CHECK_S  # the replica may be gone
            log.warning("no Redis replica confirmed a part-stream append within %d ms; "
                        "published anyway", self._replica_wait_ms)
        return bool(done)

    async def read(self, space_id: str, after: str, block_s: float) -> list[tuple[str, Entry]]:
        try:
            got = await self.client.xread({P + "parts:" + space_id: after}, count=500,
                                          block=max(1, round(block_s * 1000)))
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None
        out = []
        for _stream, items in cast(list[Any], got or []):
            for sid, fields in items:
                out.append((_text(sid), Entry.parse(fields[b"e"])))
        return out

    async def live_spaces(self) -> set[str]:
        try:
            members = await self.client.smembers(P + "live")
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None
        return {_text(m) for m in members}

    async def set_live(self, space_id: str, live: bool) -> None:
        try:
            if live:
                await self.client.sadd(P + "live", space_id)
            else:
                await self.client.srem(P + "live", space_id)
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None

    async def report_listeners(self, space_id: str, count: int, ttl_s: float) -> None:
        key = P + "aud:" + space_id
        try:
            await self.client.hset(key, self.origin, f"{count}:{time.time() + ttl_s:.3f}")
            await self.client.expire(key, max(1, round(ttl_s * 3)))
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None

    async def put_subtitles(self, space_id: str, msn: int, body: bytes, keep: int) -> None:
        key = P + "subs:" + space_id
        try:
            await self.client.hset(key, str(msn), body)
            await self.client.expire(key, SUBTITLES_TTL_S)
            old = [f for f in await self.client.hkeys(key) if int(_text(f)) <= msn - keep]
            if old:
                await self.client.hdel(key, *old)
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None

    async def subtitles(self, space_id: str, after: int) -> list[tuple[int, bytes]]:
        try:
            raw = await self.client.hgetall(P + "subs:" + space_id)
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None
        got = [(int(_text(k)), v if isinstance(v, bytes) else v.encode())
               for k, v in raw.items()]
        return sorted((m, body) for m, body in got if m > after)

    async def listeners(self, space_id: str) -> dict[str, int]:
        try:
            raw = await self.client.hgetall(P + "aud:" + space_id)
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None
        now = time.time()
        out = {}
        for origin, value in raw.items():
            count, _, until = _text(value).partition(":")
            if float(until or 0) > now:
                out[_text(origin)] = int(count)
        return out

    async def announce(self, topic: str, ident: str) -> None:
        try:
            await self.client.publish(P + "news", f"{topic} {ident} {self.origin}")
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None

    async def listen(self, heard: Callable[[str, str], Awaitable[None]]) -> None:
        pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(P + "news")
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                topic, ident, origin = [*_text(message["data"]).split(" ", 2), "", ""][:3]
                if origin != self.origin:
                    await heard(topic, ident)
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(str(exc)) from None
        finally:
            await pubsub.aclose()

    def room(self, space_id: str, local: WaitingRoom) -> Room:
        """A capped space's room is shared; an uncapped one only counts (grants share it)."""
        if local.cap is None:
            return LocalRoom(local)
        return RedisRoom(self.client, self._room, space_id, local)

    async def close(self) -> None:
        await self.client.aclose()

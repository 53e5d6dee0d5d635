"""The `Room` backends for the waiting-room tests: this process's room, and the cluster's
in a real redis-server (one per test session). `SyncRoom` drives either from plain tests."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import redis.asyncio as aioredis

from townhall.admission.room import LocalRoom, Room
from townhall.admission.waiting_room import Admitted, Outcome, WaitingRoom
from townhall.cluster.redis_room import RedisRoom
from townhall.cluster.room_script import ROOM_LUA


class SyncRoom:
    """A room's async calls run to completion on one loop (as one origin would make them)."""

    def __init__(self, room: Room, loop: asyncio.AbstractEventLoop) -> None:
        self.room = room
        self.loop = loop

    def join(self, now: float) -> Outcome:
        return self.loop.run_until_complete(self.room.join(now))

    def poll(self, token: str, now: float) -> Outcome:
        return self.loop.run_until_complete(self.room.poll(token, now))

    def renew(self, seat: str, now: float) -> Admitted | None:
        return self.loop.run_until_complete(self.room.renew(seat, now))

    def leave(self, seat: str, now: float) -> None:
        self.loop.run_until_complete(self.room.leave(seat, now))

    def tick(self, now: float) -> None:
        self.room.tick(now)
        self.loop.run_until_complete(self.room.refresh(now))

    @property
    def occupied(self) -> int:
        return self.room.occupied

    @property
    def queued(self) -> int:
        return self.room.queued


class Rooms:
    """Makes rooms of one backend; `origin()` is another origin's view of the same rooms."""

    def __init__(self, backend: str, redis_url: str | None) -> None:
        self.backend = backend
        self.redis_url = redis_url
        self.loop = asyncio.new_event_loop()
        self.clients: list[Any] = []

    def make(self, cap: int | None = 2, ttl: float = 60, grace: float = 10,
             space: str | None = None, max_queue: int = 10_000_000) -> SyncRoom:
        local = WaitingRoom(cap, seat_ttl=ttl, poll_grace=grace, max_queue=max_queue)
        if self.backend == "local":
            return SyncRoom(LocalRoom(local), self.loop)
        assert self.redis_url is not None
        client = aioredis.from_url(self.redis_url, socket_timeout=0.5,
                                   socket_connect_timeout=0.5)
        self.clients.append(client)
        script = client.register_script(ROOM_LUA)
        return SyncRoom(RedisRoom(client, script, space or secrets.token_hex(6), local),
                        self.loop)

    def close(self) -> None:
        for client in self.clients:
            self.loop.run_until_complete(client.aclose())
        self.loop.close()

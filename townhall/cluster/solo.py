"""The cluster of one: a single process, everything in memory (the embedded default).

This origin always holds every lease; nobody follows its program, so nothing is kept of the
part stream; listener counts are this origin's own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from townhall.admission.room import LocalRoom, Room
from townhall.admission.waiting_room import WaitingRoom
from townhall.cluster.base import Renewal
from townhall.cluster.entries import Entry


class SoloCluster:
    def __init__(self, origin: str = "solo") -> None:
        self.origin = origin
        self._ending: set[str] = set()
        self._live: set[str] = set()
        self._counts: dict[str, tuple[int, float]] = {}

    async def acquire(self, space_id: str) -> bool:
        return True

    async def renew(self, space_id: str) -> Renewal:
        return Renewal.END if space_id in self._ending else Renewal.HELD

    async def release(self, space_id: str) -> None:
        self._ending.discard(space_id)

    async def holder(self, space_id: str) -> str | None:
        return self.origin

    async def want(self, space_id: str) -> None:
        return None

    async def wanted_by(self, space_id: str) -> str | None:
        return None

    async def ask_end(self, space_id: str) -> None:
        self._ending.add(space_id)

    async def append(self, space_id: str, entries: list[Entry]) -> bool:
        return True

    async def read(self, space_id: str, after: str, block_s: float) -> list[tuple[str, Entry]]:
        await asyncio.sleep(block_s)
        return []

    async def live_spaces(self) -> set[str]:
        return set(self._live)

    async def set_live(self, space_id: str, live: bool) -> None:
        if live:
            self._live.add(space_id)
        else:
            self._live.discard(space_id)

    async def report_listeners(self, space_id: str, count: int, ttl_s: float) -> None:
        self._counts[space_id] = (count, time.monotonic() + ttl_s)

    async def put_subtitles(self, space_id: str, msn: int, body: bytes, keep: int) -> None:
        pass  # one origin: nobody follows its captions

    async def subtitles(self, space_id: str, after: int) -> list[tuple[int, bytes]]:
        return []

    async def listeners(self, space_id: str) -> dict[str, int]:
        count, until = self._counts.get(space_id, (0, 0.0))
        return {self.origin: count} if until > time.monotonic() else {}

    async def announce(self, topic: str, ident: str) -> None:
        return None  # nobody else to tell

    async def listen(self, heard: Callable[[str, str], Awaitable[None]]) -> None:
        await asyncio.Event().wait()  # nobody else ever says anything

    def room(self, space_id: str, local: WaitingRoom) -> Room:
        return LocalRoom(local)

    async def close(self) -> None:
        return None

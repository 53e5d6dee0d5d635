"""Write-behind saving of space records changed off a request's path.

Service. Going live and a new listener peak change a record without a request waiting on
the store: `save_soon` marks it and one task writes it, retrying every `store_retry_s` while
the store is unreachable, so the latest state lands once it is back. Every `peak_every_s`
the live spaces' listener peaks are noted into their records. On close, one last try; a
record left unsaved is logged. Never on the listener path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from townhall.live import tasks
from townhall.live.registry.live_space import LiveSpace
from townhall.space.lifecycle import Phase
from townhall.store.base import SpaceStore, StoreUnavailable

log = logging.getLogger("townhall.spaces")


class SpaceSaver:
    def __init__(self, store: SpaceStore, spaces: Callable[[], Iterable[LiveSpace]],
                 listeners_now: Callable[[LiveSpace, float], int], *, retry_s: float,
                 peak_every_s: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.spaces = spaces  # every space held here (Spaces.all)
        self.listeners_now = listeners_now  # counts them, updating the space's peak
        self.retry_s = retry_s or 1.0
        self.peak_every_s = peak_every_s
        self.clock = clock
        self._unsaved: dict[str, LiveSpace] = {}
        self._marks: dict[str, int] = {}  # times each was marked: a mark during a write stays
        self._saving = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def unsaved(self) -> set[str]:
        return set(self._unsaved)

    def save_soon(self, space: LiveSpace) -> None:
        """Write the space's record in the background (retried until the store takes it)."""
        sid = space.record.id
        self._unsaved[sid] = space
        self._marks[sid] = self._marks.get(sid, 0) + 1
        self._saving.set()

    def note_peaks(self) -> None:
        """Each live space's listener peak into its record (saved soon) when it grew."""
        now = self.clock()
        for space in list(self.spaces()):
            self.listeners_now(space, now)  # updates the peak
            peak = space.listeners.peak
            if space.record.phase is Phase.LIVE and peak > space.record.peak_listeners:
                space.record.peak_listeners = peak
                self.save_soon(space)

    async def write(self) -> None:
        """One pass: write every unsaved record. One stays unsaved until a write of its
        latest state succeeds (the store refused it, or the pass was cancelled meanwhile)."""
        for sid, space in list(self._unsaved.items()):
            mark = self._marks[sid]
            try:
                await asyncio.to_thread(self.store.save, space.record)
            except StoreUnavailable:
                continue
            if self._marks.get(sid) == mark:  # not marked again while it was written
                del self._unsaved[sid], self._marks[sid]

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._peaks()), loop.create_task(self._writer())]

    async def close(self) -> None:
        await tasks.cancel(*self._tasks)
        await self.write()  # one last try; a record left unsaved is logged
        for sid in self._unsaved:
            log.warning("space %s: its last changes could not be stored", sid,
                        extra={"space_id": sid})

    async def _peaks(self) -> None:
        while True:
            await asyncio.sleep(self.peak_every_s)
            self.note_peaks()

    async def _writer(self) -> None:
        while True:
            await self._saving.wait()
            self._saving.clear()
            await self.write()
            if self._unsaved:
                await asyncio.sleep(self.retry_s)
                self._saving.set()

"""Ending a space: its host asked, or it expired unused. Cannot be undone.

Service. Refuses (503) while the store or the recording store is unreachable, before
stopping anything, rather than end a space whose record and seal cannot be written. Then,
under the space's lock: the push source stops, the speakers' sessions close (`on_end`), the
program ends where it runs (a space that aired before a restart, or whose program runs on
another origin, gets a program first, so its recording is sealed), and the record is saved
ENDED with whether a replay exists. Control path only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from townhall.live.errors import SpaceError
from townhall.live.program.host import ProgramHost
from townhall.live.registry.live_space import LiveSpace
from townhall.live.registry.spaces import Spaces
from townhall.space.lifecycle import LifecycleError, Trigger, next_phase

log = logging.getLogger("townhall.spaces")


class SpaceEnding:
    def __init__(self, spaces: Spaces, programs: ProgramHost,
                 on_end: Sequence[Callable[[LiveSpace], Awaitable[None]]] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self.spaces = spaces
        self.programs = programs
        # awaited as a space ends, before its program stops (the speakers' sessions close)
        self.on_end = tuple(on_end)
        self.clock = clock

    async def end(self, space_id: str, key: str | None) -> LiveSpace:
        """The host ends the space with its key."""
        return await self.finish(self.spaces.authorize(space_id, key))

    async def finish(self, space: LiveSpace) -> LiveSpace:
        """End a space (its host asked, or it expired unused)."""
        store, recordings = self.spaces.store, self.spaces.recordings
        await asyncio.to_thread(store.ping)
        await asyncio.to_thread(recordings.ping)
        async with space.lock:
            try:
                phase = next_phase(space.record.phase, Trigger.END)
            except LifecycleError as exc:
                raise SpaceError(409, "already_ended", str(exc)) from None
            if space.ingest is not None:
                space.ingest.stop()
            for hook in self.on_end:
                await hook(space)
            record = space.record
            if space.program is None and self.programs.clustered:
                self.programs.program_for(space)  # a standby of the program, wherever it is
            elif space.program is None and await asyncio.to_thread(
                    recordings.has_recording, record.id):
                # aired before a restart: seal what it published
                await asyncio.to_thread(self.programs.program_for, space)
            if space.program is not None:
                await self.programs.end_program(space)
                record.has_replay = bool(space.program.recorder.manifest
                                         and space.program.recorder.manifest.segments)
            record.phase = phase
            record.ended_at = self.clock()
            space.status = None
            record.peak_listeners = max(record.peak_listeners, space.listeners.peak)
            await asyncio.to_thread(store.save, record)
        log.info("space %s ended (replay: %s)", record.id, record.has_replay,
                 extra={"space_id": record.id})
        return space

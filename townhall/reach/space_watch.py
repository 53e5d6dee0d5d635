"""Notices what happened to spaces and hands it to the webhooks as events.

Service. Every `webhook_poll_s` it compares each space's record (phase, replay, peak) with
what it saw last and publishes the differences: space.scheduled, space.live, space.ended,
replay.ready, replay.withdrawn (a published replay gone), listeners.peak (at most once per
`webhook_peak_every_s` per space). It reads the records the registry keeps in memory (in a
cluster, refreshed from the store), so it needs no hook in the live services, and a space
that changed while this origin was down is noticed at start. Event ids are derived from what
happened (reach/events.py), so repeats are queued once. Never on the listener path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from townhall.errors import StoreUnavailable
from townhall.live import tasks
from townhall.live.registry.hosting import Hosting
from townhall.live.registry.spaces import LiveSpace, Spaces
from townhall.reach.events import SpaceEvent, space_data
from townhall.reach.webhooks import Webhooks
from townhall.space.lifecycle import Phase

log = logging.getLogger("townhall.webhooks")


@dataclass(frozen=True)
class Seen:
    phase: Phase
    has_replay: bool
    peak: int


class SpaceWatch:
    def __init__(self, spaces: Spaces, hosting: Hosting, webhooks: Webhooks,
                 clock: Callable[[], float] = time.time) -> None:
        self.spaces = spaces
        self.hosting = hosting
        self.webhooks = webhooks
        self.clock = clock
        self._seen: dict[str, Seen] = {}
        self._peak_sent: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def events(self, space: LiveSpace, now: float) -> list[SpaceEvent]:
        """What changed since this space was last looked at (everything, the first time)."""
        r = space.record
        before = self._seen.get(r.id)
        seen = Seen(r.phase, r.has_replay, r.peak_listeners)
        data = space_data(r, self.spaces.settings.base_url)
        out: list[SpaceEvent] = []

        def add(kind: str, at: float, key: str = "") -> None:
            out.append(SpaceEvent(kind, r.id, at, key, data))

        if before is None:
            add("space.scheduled", r.created_at)
        if r.actual_start is not None and (before is None or before.phase is Phase.SCHEDULED):
            add("space.live", r.actual_start)
        if r.phase is Phase.ENDED and (before is None or before.phase is not Phase.ENDED):
            add("space.ended", r.ended_at or now)
        if r.has_replay and (before is None or not before.has_replay):
            add("replay.ready", r.ended_at or now)
        if before is not None and before.has_replay and not r.has_replay:
            add("replay.withdrawn", now)
        last = self._peak_sent.get(r.id)
        if (r.phase is Phase.LIVE and r.peak_listeners > 0
                and (before is None or r.peak_listeners > before.peak)
                and (last is None or now - last >= self.spaces.settings.webhook_peak_every_s)):
            self._peak_sent[r.id] = now
            add("listeners.peak", now, str(r.peak_listeners))
        elif before is not None and r.peak_listeners > before.peak:
            seen = Seen(seen.phase, seen.has_replay, before.peak)  # sent later, if it holds
        self._seen[r.id] = seen
        return out

    async def look(self) -> None:
        now = self.clock()
        for space in list(self.spaces.all()):
            for event in self.events(space, now):
                try:
                    owner = await asyncio.to_thread(self.hosting.owner_of, space.record.id)
                    await self.webhooks.publish(event, owner)
                except StoreUnavailable:
                    self._seen.pop(space.record.id, None)  # look again when it is back
                    break

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        await tasks.cancel(self._task)

    async def _run(self) -> None:
        while True:
            try:
                await self.look()
            except Exception:
                log.exception("watching spaces for webhooks failed")
            await asyncio.sleep(self.spaces.settings.webhook_poll_s)

"""The announcements outbox: events that must reach the webhooks once whatever stops, held
by the origin that will announce them and taken over by any origin when that one stops.

Service (its store calls run in a thread; never on the listener path). An event whose fact
becomes durable in one step and is announced in another (a withdrawal, then replay.withdrawn;
a transcript kept as the captions run, then captions.ready at the end) gets an outbox row
first (`hold`), which its announcer renews while it works and closes once the event is
queued (`done`). If that origin is killed in between, its hold lapses
(`webhook_hold_s`); every origin's space watch looks for lapsed rows (`lapsed`), one origin
takes each (compare-and-set, store/reach.py `take`), derives the event from the stored state
(reach/space_watch.py `recover`) and queues it. The queue keeps (endpoint, event) once, so an
event queued by its announcer and again by a taker is delivered once. No timer decides who
announces: a row is taken only from a holder that stopped renewing it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from townhall.reach.events import event_id
from townhall.settings import Settings
from townhall.store.reach import Announcement, ReachStore

LAPSED_PER_LOOK = 50  # rows taken per look (the rest at the next)


class Outbox:
    def __init__(self, settings: Settings, store: ReachStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.voided = 0  # rows given up with nothing announced (metric, logged)

    async def hold(self, kind: str, space_id: str) -> None:
        """This origin will announce `kind` of `space_id`: make (or renew) its row."""
        now = self.clock()
        row = Announcement(event_id(kind, space_id), space_id, kind, now,
                           now + self.settings.reach.webhook_hold_s)
        await asyncio.to_thread(self.store.hold, row)

    async def done(self, kind: str, space_id: str) -> None:
        await asyncio.to_thread(self.store.settle, event_id(kind, space_id), "done")

    async def void(self, row: Announcement) -> None:
        self.voided += 1
        await asyncio.to_thread(self.store.settle, row.event_id, "void")

    async def lapsed(self) -> list[Announcement]:
        """Rows whose announcer stopped holding them, each taken for this origin (one
        origin gets each)."""
        now = self.clock()
        found = await asyncio.to_thread(self.store.lapsed, now, LAPSED_PER_LOOK)
        taken = []
        for row in found:
            if await asyncio.to_thread(self.store.take, row,
                                       now + self.settings.reach.webhook_hold_s):
                taken.append(row)
        return taken

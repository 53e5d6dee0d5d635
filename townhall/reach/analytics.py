"""Samples every live space's existing counters each `analytics_every_s` into the store.

Service. A timer (never the listener path) reads the counters the space already keeps: the
listeners now (`Spaces.listeners_now`, cluster-wide with tickets), the waiting room's seats
granted and line, the listener keys of the media path (tickets off) and the reactions'
totals; the core (reach/audience.py) turns them into one row, written in a thread. Rows sit on
a grid of `analytics_every_s`, keyed by (space, time), so the origin that runs the program
writes one row per interval however many origins there are; `analytics_max_rows` per space.

On the same timer every origin writes the seats whose tickets it handed out since the last
tick (admission/listening.py: grants, renewals, leaves), merged in the store with the other
origins', so the median listening time with tickets covers the cluster's seats.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from townhall.admission.listening import ListeningLog
from townhall.errors import StoreUnavailable
from townhall.live import tasks
from townhall.live.registry.spaces import LiveSpace, Spaces
from townhall.ops.metrics import ANALYTICS_DROPPED, ANALYTICS_UNTRACKED
from townhall.reach.audience import AudienceTally
from townhall.space.lifecycle import Phase
from townhall.store.reach import ReachStore

log = logging.getLogger("townhall.analytics")


def _admitted(space: LiveSpace) -> int | None:
    """Seats the space's waiting room granted so far (this origin's room), if it counts."""
    room = getattr(space.room, "room", None)
    total = getattr(room, "admitted_total", None)
    return total if isinstance(total, int) else None


class Analytics:
    def __init__(self, spaces: Spaces, store: ReachStore, listening: ListeningLog,
                 clock: Callable[[], float] = time.time) -> None:
        self.spaces = spaces
        self.store = store
        self.listening = listening  # this origin's seats, filled by the admissions service
        self.clock = clock
        # one per space sampled since start: its keys are bounded by analytics_max_keys
        self.tallies: dict[str, AudienceTally] = {}
        self.dropped = 0  # rows the store did not take (counted, logged)
        self._untracked = {"listeners": 0, "seats": 0}  # what the metric has been told
        self._task: asyncio.Task[None] | None = None

    def tally(self, space_id: str) -> AudienceTally:
        s = self.spaces.settings
        tally = self.tallies.get(space_id)
        if tally is None:
            tally = self.tallies[space_id] = AudienceTally(s.reach.analytics_every_s,
                                                           s.reach.analytics_max_keys)
        return tally

    async def write_seats(self) -> None:
        """The seats that changed since the last write; an ended space's are then forgotten
        here (a seat the store did not take is written at the next tick)."""
        changed = self.listening.take_changed()
        try:
            await asyncio.to_thread(self.store.put_seats, changed)
        except StoreUnavailable:
            self.listening.changed.update((sid, seat) for sid, seat, _ in changed)
            log.warning("%d listening seats not written: the store is unreachable",
                        len(changed))
            return
        for sid in list(self.listening.spans):
            space = self.spaces.known(sid)
            if space is None or space.record.phase is Phase.ENDED:
                self.listening.forget(sid)

    async def sample(self, at: float) -> None:
        """One row per live space for the grid time `at` (the counters are read now)."""
        s = self.spaces.settings
        now = self.clock()
        await self.write_seats()
        for space in list(self.spaces.all()):
            sid = space.record.id
            if space.record.phase is not Phase.LIVE or space.program is None:
                continue
            tickets = s.admission.require_tickets
            row = self.tally(sid).sample(
                at, self.spaces.listeners_now(space, now),
                admitted=_admitted(space) if tickets else None,
                keys=None if tickets else space.listeners.keys(),
                reactions=sum(space.reactions.total.values()), waiting=space.room.queued)
            try:
                await asyncio.to_thread(self.store.add_sample, sid, row, s.reach.analytics_max_rows)
            except StoreUnavailable:
                self.dropped += 1
                ANALYTICS_DROPPED.inc()
                log.warning("analytics row of %s at %.0f dropped: the store is unreachable",
                            sid, at)
        self._count_untracked()

    def _count_untracked(self) -> None:
        """Keys and seats past analytics_max_keys: counted where they arose, exported and
        logged here (once per sample that saw new ones)."""
        now = {"listeners": sum(t.untracked for t in self.tallies.values()),
               "seats": self.listening.untracked}
        for kind, total in now.items():
            new = total - self._untracked[kind]
            if new > 0:
                ANALYTICS_UNTRACKED.labels(kind).inc(new)
                log.warning("%d %s past analytics_max_keys (%d) not followed for listening "
                            "time", new, kind, self.spaces.settings.reach.analytics_max_keys)
            self._untracked[kind] = max(total, self._untracked[kind])

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        await tasks.cancel(self._task)

    async def _run(self) -> None:
        every = self.spaces.settings.reach.analytics_every_s
        at = self.clock() // every * every
        while True:
            # on the grid, one row per interval: the slot is counted, never read back from a
            # clock that a timer may wake a hair early for
            at = max(at + every, self.clock() // every * every)
            await asyncio.sleep(max(0.0, at - self.clock()))
            try:
                await self.sample(at)
            except Exception:
                log.exception("analytics sample failed")

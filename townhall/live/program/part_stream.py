"""A holder's writes to its spaces' part streams: in program order, fenced, queued while
Redis is away.

Service. `append` turns a batch of media events into stream entries (with the decode time
each ends at and when it was sent) and appends them through the cluster, which refuses them
unless this origin holds the lease (False: stop publishing). While Redis is unreachable the
entries wait in an outbox (at most `replica_outbox_max`; more are dropped, logged and
counted) and go out first, in order, when it is back (one try a second, not one per part).
`position` is the last stream id this origin has of each space, written or read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from townhall.cluster.base import Cluster, ClusterUnavailable
from townhall.cluster.entries import Entry, entry_of
from townhall.media.events import MediaEvent, PartReady
from townhall.settings import Settings

log = logging.getLogger("townhall.leases")


class PartStream:
    def __init__(self, settings: Settings, cluster: Cluster, counters: Counter[str]) -> None:
        self.settings = settings
        self.cluster = cluster
        self.counters = counters
        self.position: dict[str, str] = {}
        self._outbox: dict[str, list[Entry]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retry_at: dict[str, float] = {}

    def order(self, sid: str) -> asyncio.Lock:
        """Held while entries of the space go out, so they reach the stream in order."""
        lock = self._locks.get(sid)
        if lock is None:
            lock = self._locks[sid] = asyncio.Lock()
        return lock

    async def append(self, sid: str, events: list[MediaEvent], decode: int) -> bool:
        """Replicate a batch the program is about to publish; False: the lease is lost."""
        rate = self.settings.media.sample_rate
        entries = []
        now = time.time()
        for ev in events:
            if isinstance(ev, PartReady):
                decode += round(ev.duration * rate)
            entries.append(entry_of(ev, decode, now))
        async with self.order(sid):
            return await self._append_in_order(sid, entries)

    async def _append_in_order(self, sid: str, entries: list[Entry]) -> bool:
        outbox = self._outbox.setdefault(sid, [])
        loop = asyncio.get_running_loop()
        try:
            if outbox and loop.time() < self._retry_at.get(sid, 0.0):
                raise ClusterUnavailable("still away")  # one try a second, not one per part
            if not await self.flush(sid) or not await self.cluster.append(sid, entries):
                return False
            self.position[sid] = entries[-1].stream_id
        except ClusterUnavailable:
            # Redis is away: nobody can take the lease, so keep publishing; resend later
            if len(outbox) + len(entries) > self.settings.cluster.replica_outbox_max:
                self.counters["replica_entries_dropped"] += len(outbox)
                log.error("space %s: replication outbox full; %d entries dropped for the "
                          "standbys", sid, len(outbox))
                outbox.clear()
            outbox.extend(entries)
            self.counters["replica_queued"] += len(entries)
            self._retry_at[sid] = loop.time() + 1.0
        return True

    async def flush(self, sid: str) -> bool:
        """Send what was queued while Redis was away (call holding `order(sid)`); False if
        another origin holds the lease now (the queue is then dropped, logged, counted)."""
        outbox = self._outbox.get(sid)
        if not outbox:
            return True
        batch = list(outbox)
        held = await self.cluster.append(sid, batch)
        if held:
            self.position[sid] = batch[-1].stream_id
        else:
            self.counters["replica_entries_dropped"] += len(batch)
            log.error("space %s: %d entries queued while Redis was away were never replicated "
                      "(another origin took the lease); this origin's recording has them",
                      sid, len(batch))
        del outbox[:len(batch)]
        return held

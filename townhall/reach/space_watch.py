"""Notices what happened to spaces and hands it to the webhooks as events.

Service. Every `webhook_poll_s` it compares each space's record (phase, replay, peak) with
what it saw last and publishes the differences: space.scheduled, space.live, space.ended,
replay.ready, replay.withdrawn (a published replay gone), listeners.peak (at most once per
`webhook_peak_every_s` per space). It reads the records the registry keeps in memory (in a
cluster, refreshed from the store), so it needs no hook in the live services, and a space
that changed while this origin was down is noticed at start. Event ids are derived from what
happened (reach/events.py), so repeats are queued once. Never on the listener path.

`replay.withdrawn` and `captions.ready` are derived from stored state, never only from what
an origin saw: their announcer holds an outbox row (reach/outbox.py) from before the fact is
durable until the event is queued (`withdrawing`, then `withdrawn`; reach/transcripts.py for
captions), and every look takes the rows whose holder stopped (killed, restarted) and queues
their event from the store (`recover`): the withdrawal document, or the ended record with its
replay and its kept transcript. Besides, every origin, the first time it looks at an ended
space after it starts, asks the store whether its replay was withdrawn (a withdrawal written
while no origin ran). Each is delivered once (the queue keeps one delivery per endpoint and
event id), dated by the fact itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from townhall.errors import StoreUnavailable
from townhall.live import tasks
from townhall.live.registry.hosting import Hosting
from townhall.live.registry.spaces import LiveSpace, Spaces
from townhall.ops.metrics import WEBHOOK_ANNOUNCEMENTS
from townhall.reach.events import SpaceEvent, captions_ready, space_data
from townhall.reach.outbox import Outbox
from townhall.reach.webhooks import Webhooks
from townhall.space.lifecycle import Phase
from townhall.space.space_record import SpaceRecord
from townhall.store.reach import Announcement

log = logging.getLogger("townhall.webhooks")


@dataclass(frozen=True)
class Seen:
    phase: Phase
    has_replay: bool
    peak: int


class SpaceWatch:
    def __init__(self, spaces: Spaces, hosting: Hosting, webhooks: Webhooks, outbox: Outbox,
                 clock: Callable[[], float] = time.time) -> None:
        self.spaces = spaces
        self.hosting = hosting
        self.webhooks = webhooks
        self.outbox = outbox
        self.recovered = 0  # events queued from the outbox for a holder that stopped
        self.clock = clock
        self._seen: dict[str, Seen] = {}
        self._peak_sent: dict[str, float] = {}
        self._withdrawal_read: set[str] = set()  # ended spaces whose withdrawal was read
        self._task: asyncio.Task[None] | None = None

    def events(self, space: LiveSpace, now: float) -> list[SpaceEvent]:
        """What changed since this space was last looked at (everything, the first time)."""
        r = space.record
        before = self._seen.get(r.id)
        seen = Seen(r.phase, r.has_replay, r.peak_listeners)
        data = space_data(r, self.spaces.settings.listen.base_url)
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
        # replay.withdrawn: from the withdrawal itself (`_durable_withdrawal`, `withdrawn`)
        last = self._peak_sent.get(r.id)
        if (r.phase is Phase.LIVE and r.peak_listeners > 0
                and (before is None or r.peak_listeners > before.peak)
                and (last is None
                     or now - last >= self.spaces.settings.reach.webhook_peak_every_s)):
            self._peak_sent[r.id] = now
            add("listeners.peak", now, str(r.peak_listeners))
        elif before is not None and r.peak_listeners > before.peak:
            seen = Seen(seen.phase, seen.has_replay, before.peak)  # sent later, if it holds
        self._seen[r.id] = seen
        return out

    async def look(self) -> None:
        now = self.clock()
        for space in list(self.spaces.all()):
            events = self.events(space, now)
            try:
                events += await self._durable_withdrawal(space)
                for event in events:
                    owner = await asyncio.to_thread(self.hosting.owner_of, space.record.id)
                    await self.webhooks.publish(event, owner)
            except StoreUnavailable:
                self._seen.pop(space.record.id, None)  # look again when it is back
                self._withdrawal_read.discard(space.record.id)
        with contextlib.suppress(StoreUnavailable):  # the rows stay open: the next look
            await self.recover()

    async def _durable_withdrawal(self, space: LiveSpace) -> list[SpaceEvent]:
        """replay.withdrawn from the store's withdrawal, read once per ended space per
        process (a withdrawal this origin makes later is queued by `withdrawn` itself)."""
        r = space.record
        if r.phase is not Phase.ENDED or r.id in self._withdrawal_read:
            return []
        self._withdrawal_read.add(r.id)
        try:
            doc = await asyncio.to_thread(self.spaces.recordings.withdrawal, r.id)
        except (OSError, ValueError) as exc:
            raise StoreUnavailable(f"withdrawal of {r.id} unreadable: {exc}") from exc
        return [] if doc is None else [self.withdrawal_event(r, doc)]

    def withdrawal_event(self, r: SpaceRecord, doc: dict[str, Any]) -> SpaceEvent:
        """The one replay.withdrawn of a space, dated by its withdrawal document."""
        data = {**space_data(r, self.spaces.settings.listen.base_url), "replay_download_url": None}
        return SpaceEvent("replay.withdrawn", r.id, withdrawn_at(doc, self.clock()), "", data)

    async def withdrawing(self, space: LiveSpace) -> None:
        """Before the withdrawal is stored: this origin holds its announcement, so that if it
        stops before queueing it, another origin (or its own restart) does (`recover`)."""
        await self.outbox.hold("replay.withdrawn", space.record.id)

    async def withdrawn(self, space: LiveSpace, doc: dict[str, Any]) -> None:
        """The replay of `space` was withdrawn on this origin: queue the event now, before the
        withdrawal is answered (StoreUnavailable: the outbox row lapses and is recovered)."""
        owner = await asyncio.to_thread(self.hosting.owner_of, space.record.id)
        await self.webhooks.publish(self.withdrawal_event(space.record, doc), owner)
        await self.outbox.done("replay.withdrawn", space.record.id)
        WEBHOOK_ANNOUNCEMENTS.labels("done").inc()

    async def recover(self) -> int:
        """Queue the events of outbox rows whose holder stopped, derived from the stored
        state; a row whose fact is not (yet) stored is looked at again a hold later, and given
        up (void) `webhook_give_up_s` after it was made. Returns the events queued."""
        queued = 0
        for row in await self.outbox.lapsed():
            event = await self._derive(row)
            if event is None:
                continue
            owner = await asyncio.to_thread(self.hosting.owner_of, row.space_id)
            await self.webhooks.publish(event, owner)
            await self.outbox.done(row.event_type, row.space_id)
            self.recovered += 1
            WEBHOOK_ANNOUNCEMENTS.labels("recovered").inc()
            log.info("%s of %s recovered from the store (its announcer stopped)",
                     row.event_type, row.space_id)
            queued += 1
        return queued

    async def _derive(self, row: Announcement) -> SpaceEvent | None:
        """The row's event from the store; None if it is not due yet, or there is nothing
        to announce (then the row is voided)."""
        sid, now = row.space_id, self.clock()
        record = await asyncio.to_thread(self.spaces.store.load, sid)
        try:
            withdrawal = await asyncio.to_thread(self.spaces.recordings.withdrawal, sid)
        except (OSError, ValueError) as exc:
            raise StoreUnavailable(f"withdrawal of {sid} unreadable: {exc}") from exc
        base = self.spaces.settings.listen.base_url
        void = "no such space" if record is None else ""
        if record is not None and row.event_type == "replay.withdrawn":
            if withdrawal is not None:
                return self.withdrawal_event(record, withdrawal)
        elif record is not None and row.event_type == "captions.ready":
            if record.phase is Phase.ENDED and record.has_replay:
                if await asyncio.to_thread(self.outbox.store.has_transcript, sid):
                    return captions_ready(record, base, now)
                void = "no transcript: nothing was said"
            elif record.phase is Phase.ENDED and withdrawal is not None:
                void = "the replay, and its transcript, were withdrawn"
        elif record is not None:
            void = "a type this origin does not announce"
        if not void and now - row.created_at > self.spaces.settings.reach.webhook_give_up_s:
            void = "its fact was never stored"
        if void:
            await self.outbox.void(row)
            WEBHOOK_ANNOUNCEMENTS.labels("void").inc()
            log.warning("%s of %s: nothing to announce (%s)", row.event_type, sid, void)
        return None

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
            await asyncio.sleep(self.spaces.settings.reach.webhook_poll_s)


def withdrawn_at(doc: dict[str, Any], default: float) -> float:
    """The withdrawal document's `withdrawn_at` (ISO 8601, UTC) as epoch seconds."""
    try:
        return datetime.fromisoformat(str(doc["withdrawn_at"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return default

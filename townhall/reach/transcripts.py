"""Keeps the live captions for the replay's transcript: copies each captioned space's newly
published WebVTT segments (those with a cue) into the store every `transcript_poll_s`.

Service. Reads the captions module's cue timeline (`Captioner.timeline`, only while the space
is captioned: captions off, nothing is kept, and the feed names no transcript) and never
changes it; the store call runs in a thread. The timeline keeps a few segments in memory
(`keep_segments`), published every 2-3 s, so a copy every 2 s misses none; after a restart or
a takeover, what the new timeline still holds is copied again and the store keeps the first.
Never on the listener path.

Once an ended space's captions are all published and copied (its cue timeline ended: the
captions module publishes what waited at once) and its replay is out, `captions.ready` is
published to the webhooks with the transcript's URL: once per space (its event id is derived
from the space, so a repeat on another origin or after a restart is queued once). It is
durable: before the first cue is kept, this origin holds the space's outbox row
(reach/outbox.py) and renews the hold on every copy while it captions, so no other origin
announces a transcript still being written; if this origin stops (killed after the end, or
mid-space), the hold lapses and any origin's space watch announces it from the stored state
(reach/space_watch.py `recover`).
"""

from __future__ import annotations

import asyncio
import logging
import time

from townhall.captions.captioner import Captioner
from townhall.errors import StoreUnavailable
from townhall.live import tasks
from townhall.live.registry.hosting import Hosting
from townhall.live.registry.spaces import LiveSpace, Spaces
from townhall.ops.metrics import WEBHOOK_ANNOUNCEMENTS
from townhall.reach.events import captions_ready
from townhall.reach.outbox import Outbox
from townhall.reach.webhooks import Webhooks
from townhall.space.lifecycle import Phase
from townhall.store.reach import ReachStore

log = logging.getLogger("townhall.transcripts")


class Transcripts:
    def __init__(self, spaces: Spaces, captioner: Captioner, store: ReachStore,
                 webhooks: Webhooks, hosting: Hosting, outbox: Outbox) -> None:
        self.spaces = spaces
        self.captioner = captioner
        self.store = store
        self.webhooks = webhooks
        self.hosting = hosting
        self.outbox = outbox
        self._copied: dict[str, int] = {}  # space -> the last segment number copied
        self._held: dict[str, float] = {}  # space -> when its captions.ready hold was renewed
        self._announced: set[str] = set()  # spaces whose captions.ready was queued here
        self._task: asyncio.Task[None] | None = None

    async def copy(self) -> int:
        """Copy what was published since the last call; returns the segments written."""
        written = 0
        for space in self.spaces.all():
            sid = space.record.id
            timeline = self.captioner.timeline(sid)
            last = None if timeline is None else timeline.last_msn
            if timeline is None or last is None:
                continue
            first = max(self._copied.get(sid, -1) + 1, last - 4 * timeline.keep_segments)
            new = []
            for msn in range(first, last + 1):
                body = timeline.segment(msn)
                if body is not None and b"-->" in body:
                    new.append((msn, body.decode()))
            try:
                await self._hold(sid, bool(new))
                await asyncio.to_thread(self.store.put_transcript, sid, new)
            except StoreUnavailable as exc:
                log.warning("captions of %s not kept now (%s): copied at the next look", sid,
                            exc)
                continue
            self._copied[sid] = last
            written += len(new)
            if timeline.ended and sid not in self._announced:
                await self._ready(space)
        return written

    async def _hold(self, sid: str, keeping: bool) -> None:
        """Hold the space's captions.ready before its first cue is kept, and renew the hold
        (a third of `webhook_hold_s` before it lapses) while this origin captions it."""
        held = self._held.get(sid)
        now = time.time()
        if (held is None and keeping) or (
                held is not None and now - held >= self.spaces.settings.reach.webhook_hold_s / 3):
            await self.outbox.hold("captions.ready", sid)
            self._held[sid] = now

    async def _ready(self, space: LiveSpace) -> None:
        r = space.record
        if r.phase is not Phase.ENDED or not r.has_replay:
            return  # the replay is sealed a moment after the end: next look
        try:
            if not await asyncio.to_thread(self.store.has_transcript, r.id):
                self._announced.add(r.id)  # nothing was said: no transcript, no event
                return
            owner = await asyncio.to_thread(self.hosting.owner_of, r.id)
            await self.webhooks.publish(
                captions_ready(r, self.spaces.settings.listen.base_url, time.time()), owner)
            await self.outbox.done("captions.ready", r.id)
            WEBHOOK_ANNOUNCEMENTS.labels("done").inc()
        except StoreUnavailable as exc:
            log.warning("captions.ready of %s not queued now (%s): next look", r.id, exc)
            return
        self._announced.add(r.id)
        self._held.pop(r.id, None)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        await tasks.cancel(self._task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.spaces.settings.reach.transcript_poll_s)
            try:
                await self.copy()
            except Exception:
                log.exception("keeping the captions for the transcript failed")

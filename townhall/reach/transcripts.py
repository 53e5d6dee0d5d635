"""Keeps the live captions for the replay's transcript: copies each captioned space's newly
published WebVTT segments (those with a cue) into the store every `transcript_poll_s`.

Service. Reads the captions module's cue timeline (`Captioner.timeline`, only while the space
is captioned: captions off, nothing is kept, and the feed names no transcript) and never
changes it; the store call runs in a thread. The timeline keeps a few segments in memory
(`keep_segments`), published every 2-3 s, so a copy every 2 s misses none; after a restart or
a takeover, what the new timeline still holds is copied again and the store keeps the first.
Never on the listener path.
"""

from __future__ import annotations

import asyncio
import logging

from townhall.captions.captioner import Captioner
from townhall.errors import StoreUnavailable
from townhall.live import tasks
from townhall.live.registry.spaces import Spaces
from townhall.store.reach import ReachStore

log = logging.getLogger("townhall.transcripts")


class Transcripts:
    def __init__(self, spaces: Spaces, captioner: Captioner, store: ReachStore) -> None:
        self.spaces = spaces
        self.captioner = captioner
        self.store = store
        self._copied: dict[str, int] = {}  # space -> the last segment number copied
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
                await asyncio.to_thread(self.store.put_transcript, sid, new)
            except StoreUnavailable as exc:
                log.warning("captions of %s not kept now (%s): copied at the next look", sid,
                            exc)
                continue
            self._copied[sid] = last
            written += len(new)
        return written

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        await tasks.cancel(self._task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.spaces.settings.transcript_poll_s)
            try:
                await self.copy()
            except Exception:
                log.exception("keeping the captions for the transcript failed")

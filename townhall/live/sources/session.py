"""An ingest session: one pushed byte stream decoded into one mixer source.

Service glue between the ingest edge (bytes in), the decoder thread (PCM out) and the
program (mixer, on the event loop). Audio crosses threads only via call_soon_threadsafe.

Backpressure: the decoder thread waits while the source's mixer buffer (plus PCM on its way
there) holds `ingest_buffer_ms`; the pipe then fills, `feed` waits, the edge stops reading
the socket and TCP paces the sender. So an unpaced or bursty source is heard in full, in
real time, and nothing is dropped except what a source taken over by a newer connection
had still queued, which is counted (`dropped_samples`).

A paced feed parks a thread for as long as its sender stays ahead (up to FEED_STUCK_S at a
time), and how far ahead a sender runs is the sender's choice: so feeds run on their own pool
(`ingest_feed_threads`), never on the loop's default executor, which the control path's store
calls share (and never on a recorder's thread: durable work never waits behind a pusher).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from townhall.live.sources.decoder import StreamDecoder
from townhall.media.mixer import JitterBuffer
from townhall.settings import Settings

PLAY_OUT_POLL_S = 0.05
PACE_POLL_S = 0.01  # how often a held-back decoder looks at its mixer buffer again
FEED_STUCK_S = 10.0  # a decoder that decoded nothing for this long while its pipe is full
# (and a closing one that makes no progress this long) is stuck
_feeds: ThreadPoolExecutor | None = None  # the feeds' own pool (see the docstring)


def feed_pool(threads: int) -> ThreadPoolExecutor:
    """The process's pool for paced feeds (created once, at the first push)."""
    global _feeds
    if _feeds is None:
        _feeds = ThreadPoolExecutor(max(1, threads), thread_name_prefix="ingest-feed")
    return _feeds


class IngestSession:
    def __init__(self, name: str, settings: Settings,
                 on_audio_start: Callable[[IngestSession], None],
                 on_pcm: Callable[[IngestSession, npt.NDArray[np.float32]], None],
                 on_end: Callable[[IngestSession], None]) -> None:
        self.name = name
        self._loop = asyncio.get_running_loop()
        self._on_audio_start = on_audio_start
        self._on_pcm = on_pcm
        self._on_end = on_end
        self.started = False
        self.closed = False
        self.abandoned = False  # stopped from outside before it ended by itself
        self.ended_by: str | None = None  # "taken_over" or "key_rotated" when cut off
        self.finished = asyncio.Event()
        self.stopped = asyncio.Event()  # set by stop(): the edge stops reading the push
        self.bytes_in = 0
        self.dropped_samples = 0  # decoded after the session stopped: never mixed
        # samples decoded but not yet in the mixer (added on the decoder thread)
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._rate = settings.media.sample_rate
        self._high = settings.ingest.ingest_buffer_ms * settings.media.sample_rate // 1000
        self._released = threading.Event()
        self._pool = feed_pool(settings.ingest.ingest_feed_threads)
        # the depth of this source's mixer buffer, set once it is mixed (read on the thread)
        self.level: Callable[[], int] = lambda: 0
        self.buffer: JitterBuffer | None = None  # its mixer buffer, once mixed
        self.decoder = StreamDecoder(self._pcm_from_thread, self._done_from_thread,
                                     sample_rate=settings.media.sample_rate,
                                     probe_bytes=settings.ingest.ingest_probe_bytes,
                                     max_queue_bytes=settings.ingest.ingest_max_queue_bytes,
                                     name=name)

    def losses(self) -> dict[str, float]:
        """Seconds of what this source sent that were not heard as sent: dropped (counted,
        never silent), quiet blocks skipped and pitch periods cut (caught up) to shed a
        real-time source's latency."""
        rate = self._rate
        dropped = self.dropped_samples + (self.buffer.dropped if self.buffer else 0)
        skipped = self.buffer.skipped if self.buffer else 0
        caught_up = self.buffer.caught_up if self.buffer else 0
        return {"seconds_dropped": round(dropped / rate, 3),
                "seconds_skipped": round(skipped / rate, 3),
                "seconds_caught_up": round(caught_up / rate, 3)}

    @property
    def error(self) -> str | None:
        return self.decoder.error

    def _pcm_from_thread(self, pcm: npt.NDArray[np.float32]) -> None:
        with self._in_flight_lock:
            self._in_flight += len(pcm)
        self._loop.call_soon_threadsafe(self._deliver, pcm)
        # hold the decoder (and so the pipe and the socket) while the mixer is full
        while self._in_flight + self.level() >= self._high:
            if self._released.wait(PACE_POLL_S):
                break

    def _done_from_thread(self, error: str | None) -> None:
        self._loop.call_soon_threadsafe(self.finished.set)

    def _deliver(self, pcm: npt.NDArray[np.float32]) -> None:
        with self._in_flight_lock:
            self._in_flight -= len(pcm)
        if self.closed:
            self.dropped_samples += len(pcm)
            return
        if not self.started:
            self.started = True
            self._on_audio_start(self)
        self._on_pcm(self, pcm)

    async def feed(self, data: bytes) -> bool:
        """Hand bytes to the decoder; False if it has failed or stayed stuck."""
        if self.decoder.error is not None or self.finished.is_set():
            return False
        self.bytes_in += len(data)
        while True:  # a paced decoder keeps its pipe full for as long as the sender is ahead
            before = self.decoder.samples
            if await self._loop.run_in_executor(self._pool, self.decoder.feed, data,
                                                FEED_STUCK_S):
                return True
            if self.closed or self.decoder.samples == before:
                return False

    async def close(self, wait: float = FEED_STUCK_S) -> None:
        """End of the pushed stream: play out what the decoder still holds (it is paced,
        so that may take as long as the audio lasts), then leave the mix."""
        self.decoder.close()
        progress = -1
        while not self.finished.is_set() and self.decoder.samples != progress:
            progress = self.decoder.samples
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.finished.wait(), wait)
        # let PCM already queued on the loop reach the mixer before leaving it
        await asyncio.sleep(0)
        if self.closed:
            return
        self.stop()
        self.abandoned = False
        # answer once the program has played out what this source sent (a paced source may
        # hold seconds of it), so a client's "done" means "heard"; bounded by its depth
        limit = self._loop.time() + (self._high / self._rate) * 2 + 2.0
        while not self.abandoned and self.level() > 0 and self._loop.time() < limit:
            await asyncio.sleep(PLAY_OUT_POLL_S)

    def stop(self) -> None:
        """Leave the mix now (taken over by a newer connection, the space ended, or closed):
        what is already in the mixer is played out unless the program ends first."""
        self.abandoned = True
        if self.closed:
            return
        self.closed = True
        self.stopped.set()
        self._released.set()
        self.decoder.close()
        self._on_end(self)


async def until_stopped(session: IngestSession, reading: Coroutine[Any, Any, None]) -> None:
    """Run `reading` (an edge's loop over the pushed body) until it ends, or until the session
    is stopped from outside (a rotated key, a takeover, no audio in time): then at once, not
    after the next read, so the source is answered while it still listens. Exceptions of
    `reading` propagate."""
    task = asyncio.ensure_future(reading)
    stopped = asyncio.ensure_future(session.stopped.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

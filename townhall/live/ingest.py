"""An ingest session: one pushed byte stream decoded into one mixer source.

Service glue between the ingest edge (bytes in), the decoder thread (PCM out) and the
program (mixer, on the event loop). Audio crosses threads only via call_soon_threadsafe.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from townhall.ingest.decoder import StreamDecoder
from townhall.settings import Settings


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
        self.ended_by: str | None = None  # "taken_over" or "key_rotated" when cut off
        self.finished = asyncio.Event()
        self.bytes_in = 0
        self.decoder = StreamDecoder(self._pcm_from_thread, self._done_from_thread,
                                     sample_rate=settings.sample_rate,
                                     probe_bytes=settings.ingest_probe_bytes,
                                     max_queue_bytes=settings.ingest_max_queue_bytes, name=name)

    @property
    def error(self) -> str | None:
        return self.decoder.error

    def _pcm_from_thread(self, pcm: npt.NDArray[np.float32]) -> None:
        self._loop.call_soon_threadsafe(self._deliver, pcm)

    def _done_from_thread(self, error: str | None) -> None:
        self._loop.call_soon_threadsafe(self.finished.set)

    def _deliver(self, pcm: npt.NDArray[np.float32]) -> None:
        if self.closed:
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
        return await asyncio.to_thread(self.decoder.feed, data)

    async def close(self, wait: float = 5.0) -> None:
        """End of the pushed stream: drain the decoder, then leave the mix."""
        self.decoder.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.finished.wait(), wait)
        # let PCM already queued on the loop reach the mixer before leaving it
        await asyncio.sleep(0)
        self.stop()

    def stop(self) -> None:
        """Leave the mix now (taken over by a newer connection, or closed)."""
        if self.closed:
            return
        self.closed = True
        self.decoder.close()
        self._on_end(self)

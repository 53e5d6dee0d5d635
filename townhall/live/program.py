"""One space's program: a clock that pulls the mix, encodes AAC and publishes CMAF parts.

Service. Owns the mixer, encoder, packager, live window and recorder of a live space. The
clock runs while a source is attached and for `idle_pause_s` of silence after the last one
leaves (listeners hear silence, not an error); then it pauses, and a later source resumes the
playlist after an EXT-X-DISCONTINUITY. Never touches the database; never blocks on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from townhall.delivery.window import LiveWindow
from townhall.live.encoder import FRAME, AacEncoder
from townhall.media.cmaf import init_segment
from townhall.media.events import MediaEvent, PartReady, SegmentClosed, SegmentOpened
from townhall.media.mixer import Mixer
from townhall.media.packager import Cadence, Packager
from townhall.ops import logs
from townhall.recording.recorder import Recorder
from townhall.settings import Settings

MAX_CATCH_UP_S = 5.0  # after a longer stall (suspend, debugger) restart the clock instead


class Program:
    def __init__(self, settings: Settings, recorder: Recorder, *, first_msn: int = 0,
                 first_decode_time: int = 0, resumed: bool = False) -> None:
        self.settings = settings
        self.recorder = recorder
        self.encoder = AacEncoder(settings.sample_rate, settings.bitrate)
        cadence = Cadence(settings.part_frames, settings.parts_per_segment)
        self.packager = Packager(self.encoder.track, cadence, first_msn=first_msn,
                                 first_sequence=first_msn * settings.parts_per_segment + 1,
                                 first_decode_time=first_decode_time)
        if resumed:
            self.packager.mark_discontinuity()
        self.init = init_segment(self.encoder.track)
        self.window = LiveWindow(init=self.init, segment_target=self.packager.segment_target,
                                 part_target=self.packager.part_target,
                                 parts_per_segment=settings.parts_per_segment,
                                 keep_segments=settings.keep_segments,
                                 hold_back_parts=settings.part_hold_back_parts)
        rate_ms = settings.sample_rate // 1000
        self.mixer = Mixer(settings.jitter_prebuffer_ms * rate_ms,
                           settings.jitter_ceiling_ms * rate_ms)
        self._changed = asyncio.Event()
        self._clock: asyncio.Task[None] | None = None
        self._paused = False
        self._empty_since: float | None = None
        self._open_segment: SegmentOpened | None = None
        self.ended = False
        self.on_publish: Callable[[MediaEvent], None] | None = None
        # called with every mixed frame (FRAME samples) as the clock pulls it: speakers'
        # mix-minus is derived here from `mixer.contributions`
        self.on_frame: Callable[[npt.NDArray[np.float32]], None] | None = None
        self.frames_mixed = 0
        self.late_ticks = 0
        self.lag_s = 0.0  # how late the clock's last tick ran (exported as a metric)

    # --- sources ---
    def attach(self, name: str, prebuffer: int | None = None, ceiling: int | None = None) -> None:
        """Mix a new source (samples of jitter buffer: default from Settings) and run."""
        if self.ended:
            raise RuntimeError("the program has ended")
        self.mixer.add_source(name, prebuffer, ceiling)
        self._empty_since = None
        if self._clock is None or self._clock.done():
            if self._paused:
                self.packager.mark_discontinuity()
                self._paused = False
            self.recorder.start(self.init)
            self._clock = asyncio.get_running_loop().create_task(
                self._run(), context=logs.context_of(self.recorder.space_id))

    def detach(self, name: str) -> None:
        self.mixer.retire(name)

    def write(self, name: str, pcm: npt.NDArray[np.float32]) -> None:
        self.mixer.write(name, pcm)

    @property
    def on_air(self) -> bool:
        return self._clock is not None and not self._clock.done()

    @property
    def ready(self) -> bool:
        """On air with two complete segments: enough for any player to start cleanly
        (hls.js stalls when it starts inside the only segment of a new playlist)."""
        complete = sum(1 for seg in self.window.segments.values() if seg.complete)
        return self.on_air and complete >= 2

    # --- listeners wait here for the next publication ---
    async def wait_change(self, timeout: float) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- the clock ---
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        rate = self.settings.sample_rate
        frame_s = FRAME / rate
        t0 = loop.time()
        wall_base = time.time() - self.packager.decode_time / rate
        frames = 0
        while True:
            now = loop.time()
            self.lag_s = max(0.0, now - (t0 + frames * frame_s))
            due = int((now - t0) / frame_s) + 1
            if due - frames > MAX_CATCH_UP_S / frame_s:
                self.late_ticks += 1
                t0, frames, due = now, 0, 1
                wall_base = time.time() - self.packager.decode_time / rate
            published = False
            while frames < due:
                pcm = self.mixer.pull(FRAME)
                if self.on_frame is not None:
                    self.on_frame(pcm)
                for au in self.encoder.encode(pcm):
                    wall = wall_base + self.packager.decode_time / rate
                    published |= self._publish(self.packager.push(au, wall))
                frames += 1
                self.frames_mixed += 1
            if published:
                self._notify()
            if self.mixer.sources:
                self._empty_since = None
            elif self._empty_since is None:
                self._empty_since = now
            elif now - self._empty_since > self.settings.idle_pause_s:
                self._pause()
                return
            await asyncio.sleep(max(0.0, t0 + frames * frame_s - loop.time()))

    def _pause(self) -> None:
        if self._publish(self.packager.flush()):
            self._notify()
        self._paused = True

    def _publish(self, events: list[MediaEvent]) -> bool:
        for ev in events:
            self.window.apply(ev)
            if isinstance(ev, SegmentOpened):
                self._open_segment = ev
            elif isinstance(ev, PartReady):
                opened = self._open_segment
                assert opened is not None and opened.msn == ev.msn
                self.recorder.part(ev.msn, ev.index, ev.data, ev.duration,
                                   opened.program_date_time, opened.discontinuity)
            elif isinstance(ev, SegmentClosed):
                opened = self._open_segment
                assert opened is not None and opened.msn == ev.msn
                self.recorder.segment(ev.msn, ev.data, ev.duration, opened.program_date_time,
                                      opened.discontinuity)
            if self.on_publish is not None:
                self.on_publish(ev)
        return bool(events)

    async def _stop_clock(self) -> None:
        if self._clock is not None and not self._clock.done():
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock

    async def suspend(self) -> None:
        """The process is stopping: publish what is buffered as a last short segment and put
        every published byte on disk; a restarted origin resumes after a discontinuity."""
        if self.ended:
            return
        await self._stop_clock()
        self._publish(self.packager.flush())
        self._notify()
        await self.recorder.flush()

    async def end(self) -> None:
        """Stop the clock, publish what is buffered, close the playlist, seal the recording."""
        if self.ended:
            return
        self.ended = True
        await self._stop_clock()
        self._publish(self.packager.flush())
        self.window.end()
        self._notify()
        await self.recorder.finish()

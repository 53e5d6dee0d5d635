"""One space's program: a clock that pulls the mix, encodes AAC and publishes CMAF parts.

Service. Owns the mixer, encoder, packager, live window and recorder of a live space. The
clock runs while a source is attached and for `idle_pause_s` of silence after the last one
leaves (listeners hear silence, not an error); then it pauses, and a later source resumes the
playlist after an EXT-X-DISCONTINUITY. Never touches the database; never blocks on disk.

In a cluster the program runs on the origin holding the space's lease: every event is handed
to `replicate` (the part stream) before listeners can see it, and a program that loses the
lease stops at once. On the other origins the same object is a standby (`following`): its
window and recording are fed the holder's events (`follow`), and `take_over` continues the
playlist from them after a discontinuity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import numpy as np
import numpy.typing as npt

from townhall.delivery.window import LiveWindow
from townhall.live.program.encoder import FRAME, AacEncoder
from townhall.media.cmaf import init_segment
from townhall.media.events import MediaEvent, PartReady, SegmentClosed, SegmentOpened
from townhall.media.mixer import JitterBuffer, Mixer
from townhall.media.packager import Cadence, Packager
from townhall.ops import logs
from townhall.recording.recorder import Recorder
from townhall.settings import Settings

MAX_CATCH_UP_S = 5.0  # after a longer stall (suspend, debugger) restart the clock instead

log = logging.getLogger(__name__)


class Program:
    def __init__(self, settings: Settings, recorder: Recorder, *, first_msn: int = 0,
                 first_decode_time: int = 0, resumed: bool = False,
                 on_frame: Callable[[Program], None] | None = None) -> None:
        self.settings = settings
        self.recorder = recorder
        self.encoder = AacEncoder(settings.media.sample_rate, settings.media.bitrate)
        cadence = Cadence(settings.media.part_frames, settings.media.parts_per_segment)
        self.packager = Packager(self.encoder.track, cadence, first_msn=first_msn,
                                 first_sequence=first_msn * settings.media.parts_per_segment + 1,
                                 first_decode_time=first_decode_time)
        if resumed:
            self.packager.mark_discontinuity()
        self.init = init_segment(self.encoder.track)
        self.window = LiveWindow(init=self.init, segment_target=self.packager.segment_target,
                                 part_target=self.packager.part_target,
                                 parts_per_segment=settings.media.parts_per_segment,
                                 keep_segments=settings.media.keep_segments,
                                 hold_back_parts=settings.media.part_hold_back_parts)
        rate_ms = settings.media.sample_rate // 1000
        self.mixer = Mixer(settings.media.jitter_prebuffer_ms * rate_ms,
                           settings.media.jitter_ceiling_ms * rate_ms,
                           settings.ingest.ingest_catch_up)
        self._changed = asyncio.Event()
        self._clock: asyncio.Task[None] | None = None
        self._paused = False
        self._empty_since: float | None = None
        self._open_segment: SegmentOpened | None = None
        self.ended = False
        self.on_publish: Callable[[MediaEvent], None] | None = None
        # called after every mixed frame (FRAME samples) the clock pulls: speakers'
        # mix-minus is derived there from `mixer.contributions` (given by the factory)
        self.on_frame = on_frame
        # called with every mixed frame and its decode time (samples): the captioner's tap
        # (townhall.captions.captioner.Tap), which must never block nor raise
        self.pcm_tap: Callable[[npt.NDArray[np.float32], int], None] | None = None
        self.frames_mixed = 0
        self.late_ticks = 0
        # the cluster's fence: awaited with each batch of events before they are published;
        # False means this origin no longer holds the lease
        self.replicate: Callable[[list[MediaEvent], int], Awaitable[bool]] | None = None
        self.following = False  # a standby: fed by the holder's events, no clock of its own
        self.on_source: Callable[[], None] | None = None  # a standby got a source (ingest)
        self._published_s = first_decode_time / settings.media.sample_rate
        self._catch_up_s = 0.0  # a standby taking over: publish this much at once
        self.lag_s = 0.0  # how late the clock's last tick ran (exported as a metric)
        self._wall_base: float | None = None  # wall clock at decode time 0 (the clock's)
        self.played_out_s = 0.0  # audio mixed out at End, after the clock stopped

    # --- sources ---
    def attach(self, name: str, prebuffer: int | None = None, ceiling: int | None = None,
               high: int | None = None) -> JitterBuffer:
        """Mix a new source (samples of jitter buffer: default from Settings; `high` for a
        paced source) and run."""
        if self.ended:
            raise RuntimeError("the program has ended")
        buffer = self.mixer.add_source(name, prebuffer, ceiling, high)
        self._empty_since = None
        if self.following:  # the source waits in the mixer until this origin takes over
            if self.on_source is not None:
                self.on_source()
            return buffer
        if self._clock is None or self._clock.done():
            if self._paused:
                self.packager.mark_discontinuity()
                self._paused = False
            self.recorder.start(self.init)
            self._clock = asyncio.get_running_loop().create_task(
                self._run(), context=logs.context_of(self.recorder.space_id))
        return buffer

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
        return (self.on_air or self.following) and complete >= 2

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
        rate = self.settings.media.sample_rate
        frame_s = FRAME / rate
        t0 = loop.time() - self._catch_up_s
        wall_base = time.time() - self._catch_up_s - self.packager.decode_time / rate
        self._wall_base = wall_base
        self._catch_up_s = 0.0
        frames = 0
        while True:
            now = loop.time()
            self.lag_s = max(0.0, now - (t0 + frames * frame_s))
            due = int((now - t0) / frame_s) + 1
            if due - frames > MAX_CATCH_UP_S / frame_s:
                self.late_ticks += 1
                t0, frames, due = now, 0, 1
                wall_base = time.time() - self.packager.decode_time / rate
                self._wall_base = wall_base
            batch: list[MediaEvent] = []
            while frames < due:
                pcm = self.mixer.pull(FRAME)
                if self.on_frame is not None:
                    self.on_frame(self)
                if self.pcm_tap is not None:
                    self.pcm_tap(pcm, self.packager.decode_time)
                for au in self.encoder.encode(pcm):
                    wall = wall_base + self.packager.decode_time / rate
                    batch += self.packager.push(au, wall)
                frames += 1
                self.frames_mixed += 1
            if batch and not await self.announce(batch):
                self.following = True  # deposed: another origin publishes from now on
                return
            if self.mixer.sources:
                self._empty_since = None
            elif self._empty_since is None:
                self._empty_since = now
            elif now - self._empty_since > self.settings.media.idle_pause_s:
                await self.announce(self.packager.flush())
                self._paused = True
                return
            await asyncio.sleep(max(0.0, t0 + frames * frame_s - loop.time()))

    async def announce(self, events: list[MediaEvent]) -> bool:
        """Replicate, then publish: no listener sees a part the standbys may not have."""
        if not events:
            return True
        if self.replicate is not None and not await self.replicate(events,
                                                                   self.published_until):
            return False
        self._publish(events)
        self._notify()
        return True

    @property
    def published_until(self) -> int:
        """Decode time (samples) where the published program ends: the next part's start."""
        return round(self._published_s * self.settings.media.sample_rate)

    def _publish(self, events: list[MediaEvent]) -> bool:
        for ev in events:
            self.window.apply(ev)
            if isinstance(ev, SegmentOpened):
                self._open_segment = ev
            elif isinstance(ev, PartReady):
                self._published_s += ev.duration
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

    # --- standby (cluster) ---
    def follow(self, events: list[MediaEvent], decode_time: int) -> None:
        """Publish what the holder published (already replicated, already heard)."""
        self._publish(events)
        self._published_s = decode_time / self.settings.media.sample_rate
        self._notify()

    def take_over(self, late_s: float = 0.0) -> list[MediaEvent]:
        """Become the holder: a packager that continues exactly where the old holder's
        published program ends (the open segment's next part, the same decode time: no
        timeline jump, so no discontinuity; a player's preload hint is answered). Returns
        events to announce first (none today; kept for a holder that must close something).
        `late_s`: how long ago the old holder's next part was due; the clock publishes that
        much at once (silence, or the new source), so players' deadlines hold after one gap."""
        w = self.window
        s = self.settings
        last = next(reversed(w.segments.values()), None)
        next_msn, parts = 0, []
        if last is not None and last.complete:
            next_msn = last.msn + 1
        elif last is not None:
            next_msn = last.msn
            parts = [w.part(last.msn, i) or b"" for i in range(len(last.part_durations))]
            if not parts:
                del w.segments[last.msn]  # opened with no part: nothing of it went out
        self.packager = Packager(self.encoder.track, Cadence(s.media.part_frames,
                                                             s.media.parts_per_segment),
                                 first_msn=next_msn,
                                 first_sequence=(next_msn * s.media.parts_per_segment
                                                 + len(parts) + 1),
                                 first_decode_time=self.published_until)
        if parts:
            frames = round(sum(last.part_durations) / self.packager.frame_seconds) if last else 0
            self.packager.continue_segment(parts, frames)
        self.following = False
        self._paused = False
        self._catch_up_s = min(max(0.0, late_s), MAX_CATCH_UP_S / 2)
        return []

    def start_clock(self) -> None:
        if self.ended or self.on_air:
            return
        self.recorder.start(self.init)
        self._clock = asyncio.get_running_loop().create_task(self._run())

    async def stop_following(self) -> None:
        """The holder ended the space: close the window and seal this copy of the recording."""
        if self.ended:
            return
        self.ended = True
        self.window.end()
        self._notify()
        await self.recorder.finish()

    async def stop_clock(self) -> None:
        """Deposed: stop mixing and publishing at once (the new holder continues)."""
        await self._stop_clock()

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
        if not self.following:
            await self.announce(self.packager.flush())
        await self.recorder.flush()

    def _play_out(self) -> list[MediaEvent]:
        """The space ends: mix out, faster than real time, what the sources already sent and
        the clock had not reached yet (a paced push source holds seconds of it), so the end
        of the broadcast is in the playlist and the replay. Past `end_play_out_s` the rest
        is dropped, counted in the mixer's `dropped` and logged."""
        rate = self.settings.media.sample_rate
        self.mixer.retire_all()
        wall_base = self._wall_base
        if wall_base is None:
            wall_base = time.time() - self.packager.decode_time / rate
        limit = int(self.settings.media.end_play_out_s * rate / FRAME)
        events: list[MediaEvent] = []
        frames = 0
        while self.mixer.sources and frames < limit:
            pcm = self.mixer.pull(FRAME)
            for au in self.encoder.encode(pcm):
                events += self.packager.push(au, wall_base + self.packager.decode_time / rate)
            frames += 1
        for au in self.encoder.flush():  # its look-ahead: the last frames mixed
            events += self.packager.push(au, wall_base + self.packager.decode_time / rate)
        self.played_out_s = frames * FRAME / rate
        left = self.mixer.discard()
        if left:
            log.warning("space %s ended with %.2f s of sent audio past end_play_out_s "
                        "(%.1f s): dropped", self.recorder.space_id, left / rate,
                        self.settings.media.end_play_out_s,
                        extra={"space_id": self.recorder.space_id})
        return events

    async def end(self) -> None:
        """Stop the clock, publish what is buffered, close the playlist, seal the recording."""
        if self.ended:
            return
        self.ended = True
        await self._stop_clock()
        if not self.following:
            await self.announce(self._play_out() + self.packager.flush())
        self.window.end()
        self._notify()
        await self.recorder.finish()

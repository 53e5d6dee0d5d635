"""Cuts a stream of 16 kHz mono PCM into utterances for the recogniser (sans-IO).

Core: fed samples and their place on the decode timeline, returns utterances. An utterance
starts where the level rises above `level_dbfs` (with `pre_roll_s` kept before it: the level
rises after a soft consonant begins) and ends after `pause_s` below it, or at `max_s`, so a
long speech is captioned in pieces within seconds rather than when the speaker stops. This is
only the cheap first gate that keeps silence away from the recogniser: tone and noise pass
it, and the worker's Silero VAD (faster-whisper's `vad_filter`) is what refuses them.

`settled` is the decode time before which every sample is either in an emitted utterance or
was silence: the cue timeline may publish subtitle segments that end before it. `heard` is
where the audio pushed so far ends: between the two lies at most the utterance in progress.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RATE = 16_000  # Hz: what Whisper and Silero take
WINDOW = 320  # samples (20 ms) per level decision

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Utterance:
    start: float  # decode timeline, seconds
    samples: Samples

    @property
    def end(self) -> float:
        return self.start + len(self.samples) / RATE


class UtteranceCutter:
    def __init__(self, *, level_dbfs: float = -45.0, pause_s: float = 0.3, max_s: float = 4.0,
                 min_s: float = 0.25, pre_roll_s: float = 0.2) -> None:
        self.threshold = 10 ** (level_dbfs / 20)
        self.pause_windows = max(1, round(pause_s * RATE / WINDOW))
        self.max_samples = round(max_s * RATE)
        self.min_samples = round(min_s * RATE)
        self._pre_roll: deque[Samples] = deque(maxlen=max(1, round(pre_roll_s * RATE / WINDOW)))
        self._pending = np.zeros(0, np.float32)  # less than one window, not yet judged
        self._pending_start = 0.0
        self._voiced: list[Samples] = []  # windows of the utterance in progress
        self._levels: list[float] = []  # their RMS levels
        self._start = 0.0
        self._quiet = 0  # windows below the threshold since the last loud one
        self.settled = 0.0

    @property
    def heard(self) -> float:
        """The decode time up to which audio has been pushed."""
        return self._pending_start + len(self._pending) / RATE

    @property
    def speaking(self) -> bool:
        return bool(self._voiced)

    def push(self, samples: Samples, start: float) -> list[Utterance]:
        """Samples (float32, -1..1, 16 kHz) starting at `start` s; a jump in `start` (a
        discontinuity, dropped audio) ends the utterance in progress."""
        out: list[Utterance] = []
        expected = self._pending_start + len(self._pending) / RATE
        if abs(start - expected) > 0.05:
            out += self.flush()
            self._pending = np.zeros(0, np.float32)
            self._pending_start = start
            self._pre_roll.clear()
        data = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        t = self._pending_start
        whole = len(data) // WINDOW * WINDOW
        for i in range(0, whole, WINDOW):
            out += self._window(data[i:i + WINDOW], t + i / RATE)
        self._pending = data[whole:]
        self._pending_start = t + whole / RATE
        if not self._voiced:
            # a later utterance may still begin with the pre-roll kept before this point
            self.settled = max(self.settled, self._pending_start
                               - len(self._pre_roll) * WINDOW / RATE)
        return out

    def _window(self, w: Samples, t: float) -> list[Utterance]:
        level = float(np.sqrt(np.mean(w * w)))
        loud = level > self.threshold
        if not self._voiced:
            if not loud:
                self._pre_roll.append(w)
                return []
            self._start = t - len(self._pre_roll) * WINDOW / RATE
            self._voiced = [*self._pre_roll, w]
            self._levels = [0.0] * len(self._pre_roll) + [level]
            self._pre_roll.clear()
            self._quiet = 0
            return []
        self._voiced.append(w)
        self._levels.append(level)
        self._quiet = 0 if loud else self._quiet + 1
        if self._quiet >= self.pause_windows:
            return self._emit(len(self._voiced))
        if len(self._voiced) * WINDOW >= self.max_samples:
            # too long without a pause: cut at the quietest moment of its second half (between
            # words, mostly), and the rest begins the next piece
            half = len(self._levels) // 2
            cut = half + int(np.argmin(self._levels[half:]))
            return self._emit(max(1, cut))
        return []

    def _emit(self, windows: int) -> list[Utterance]:
        samples = np.concatenate(self._voiced[:windows])
        start, quiet = self._start, self._quiet
        rest, rest_levels = self._voiced[windows:], self._levels[windows:]
        self._voiced, self._levels, self._quiet = rest, rest_levels, 0
        self._start = start + len(samples) / RATE
        self.settled = self._start
        if rest:
            quiet = 0
        if len(samples) - quiet * WINDOW < self.min_samples:
            return []  # a click or a cough: nothing a recogniser should be asked about
        return [Utterance(start, samples)]

    def flush(self) -> list[Utterance]:
        """The stream ended or jumped: what is being spoken is an utterance now."""
        return self._emit(len(self._voiced)) if self._voiced else []

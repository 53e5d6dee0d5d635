"""The fan-out benchmark's glass-to-glass arithmetic (harness/marks.py): marks are found in noisy
decoded audio wherever the blocks are cut, matched to the right pushes although some are
missed, and placed on the listener's own playback clock, stalls included."""

from __future__ import annotations

import random

import numpy as np
import pytest

from harness.marks import BEEP_HZ, RATE, OnsetFinder, audible_at, match
from townhall.loadtest.playback import Playback


def marked_audio(onsets_s: list[float], seconds: float) -> np.ndarray:
    rng = np.random.default_rng(1)
    pcm = rng.uniform(-0.03, 0.03, int(seconds * RATE)).astype(np.float32)
    beep = 0.6 * np.sin(2 * np.pi * BEEP_HZ * np.arange(int(0.1 * RATE)) / RATE)
    for t in onsets_s:
        i = int(t * RATE)
        pcm[i:i + len(beep)] += beep.astype(np.float32)
    return pcm


@pytest.mark.parametrize("block", [1024, 1152, 15360, 48000])
def test_onsets_are_found_to_the_millisecond_however_the_audio_is_cut(block: int) -> None:
    truth = [1.0, 2.37, 4.05, 5.5]
    pcm = marked_audio(truth, 7.0)
    finder = OnsetFinder()
    for i in range(0, len(pcm), block):
        finder.feed(10.0 + i / RATE, pcm[i:i + block])
    assert len(finder.onsets) == len(truth)
    assert max(abs(a - (10.0 + t)) for a, t in zip(finder.onsets, truth, strict=True)) < 0.001


def test_marks_match_their_own_pushes_when_some_were_never_heard() -> None:
    rng = random.Random(3)
    pushes, t = [], 100.0
    for _ in range(12):
        pushes.append(t)
        t += rng.uniform(1.2, 2.6)
    latency = 9.7  # longer than several gaps: the nearest push is the wrong one
    heard = [p + latency + rng.uniform(-0.02, 0.02) for k, p in enumerate(pushes)
             if k not in (2, 3, 7)]
    got = match(heard, pushes)
    assert [i for i, _ in got] == list(range(len(heard)))
    assert all(abs(d - latency) < 0.03 for _, d in got)
    assert match([50.0], pushes) == []  # heard before anything was pushed


def test_a_mark_is_heard_later_by_every_stall_before_it() -> None:
    pb = Playback(started_at=1000.0, start_offset=5.0)
    pb.arrive(5.0, 1.0, 1000.0)
    pb.arrive(6.0, 1.0, 1001.5)  # due at 1001.0: a 0.5 s stall
    assert audible_at(pb, 5.5) == pytest.approx(1000.5)
    assert audible_at(pb, 6.2) == pytest.approx(1001.7)

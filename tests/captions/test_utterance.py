"""The utterance cutter: the cheap first gate in front of the recogniser (sans-IO)."""

from __future__ import annotations

import numpy as np
import pytest

from townhall.captions.utterance import RATE, UtteranceCutter


def tone(seconds: float, level: float = 0.3, freq: float = 220.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), np.float32)


def feed(cutter: UtteranceCutter, pcm: np.ndarray, start: float = 0.0, step: int = 3200) -> list:
    out = []
    for i in range(0, len(pcm), step):
        out += cutter.push(pcm[i:i + step], start + i / RATE)
    return out


def test_silence_gives_no_utterance_and_settles_as_it_goes() -> None:
    cutter = UtteranceCutter()
    assert feed(cutter, silence(3.0)) == []
    assert cutter.settled == pytest.approx(3.0 - 0.2)  # the pre-roll may yet be speech


def test_a_pause_ends_an_utterance_that_starts_a_little_before_the_level_rose() -> None:
    cutter = UtteranceCutter(pause_s=0.3, pre_roll_s=0.2)
    out = feed(cutter, np.concatenate([silence(1.0), tone(1.0), silence(1.0)]), start=10.0)
    assert len(out) == 1
    assert abs(out[0].start - 10.8) < 0.021
    assert 1.4 <= out[0].end - out[0].start <= 1.6
    assert cutter.settled == pytest.approx(13.0 - 0.2)


def test_long_speech_is_cut_into_pieces_at_its_quietest_moment() -> None:
    cutter = UtteranceCutter(max_s=4.0)
    dip = np.concatenate([tone(3.0), tone(0.1, level=0.01), tone(3.0)])
    out = feed(cutter, dip)
    assert len(out) == 1
    assert 2.9 < out[0].end < 3.2  # at the dip, not at 4 s
    out += cutter.flush()
    assert len(out) == 2 and abs(out[1].start - out[0].end) < 1e-9
    assert abs(out[1].end - 6.1) < 0.021


def test_a_click_is_too_short_to_ask_the_recogniser_about() -> None:
    cutter = UtteranceCutter(min_s=0.25)
    assert feed(cutter, np.concatenate([silence(0.5), tone(0.04), silence(1.0)])) == []


def test_a_jump_in_the_timeline_ends_the_utterance_in_progress() -> None:
    cutter = UtteranceCutter()
    assert cutter.push(tone(1.0), 0.0) == []
    out = cutter.push(silence(0.2), 50.0)
    assert len(out) == 1 and out[0].start < 1.0


def test_settled_never_passes_the_start_of_an_utterance_still_to_come() -> None:
    cutter = UtteranceCutter(pre_roll_s=0.2)
    pcm = np.concatenate([silence(1.05), tone(1.0), silence(1.0)])
    before: list[float] = []  # settled after each push, until the utterance came out
    out: list = []
    for i in range(0, len(pcm), 3200):
        out += cutter.push(pcm[i:i + 3200], i / RATE)
        if not out:
            before.append(cutter.settled)
    assert len(out) == 1 and len(before) >= 5
    assert max(before) <= out[0].start + 1e-9

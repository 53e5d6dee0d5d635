"""Ending a space publishes what its sources already sent: a paced push source holds
seconds of audio ahead of the clock, and the host's End must not cut it from the replay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from townhall.live.program.program import Program
from townhall.media.events import PartReady
from townhall.recording.recorder import Recorder
from townhall.settings import Settings
from townhall.store.recording_files import FileRecordings

RATE = 48000


def _program(tmp_path: Path, **overrides: float) -> tuple[Program, list[PartReady]]:
    s = Settings.of(data_dir=tmp_path, **overrides)  # type: ignore[arg-type]
    program = Program(s, Recorder(FileRecordings(tmp_path), "sp", s.recording.secret))
    parts: list[PartReady] = []
    program.on_publish = lambda ev: parts.append(ev) if isinstance(ev, PartReady) else None
    return program, parts


def _tone(seconds: float) -> np.ndarray:
    return (0.3 * np.sin(np.arange(int(seconds * RATE)) * 0.05)).astype(np.float32)


def test_end_publishes_the_audio_a_paced_source_had_buffered(tmp_path: Path) -> None:
    async def run() -> None:
        program, parts = _program(tmp_path)
        program.attach("push", high=5 * RATE, ceiling=6 * RATE)
        program.write("push", _tone(4.0))  # a burst: 4 s ahead of the clock
        await asyncio.sleep(0.2)
        await program.end()
        published = sum(p.duration for p in parts)
        assert published >= 4.0, published
        assert program.mixer.dropped == 0
        assert program.played_out_s >= 3.5
        assert program.recorder.manifest is not None
        recorded = sum(seg.duration for seg in program.recorder.manifest.segments)
        assert recorded >= 4.0, recorded

    asyncio.run(run())


def test_end_counts_what_lies_past_the_play_out_bound(tmp_path: Path) -> None:
    async def run() -> None:
        program, parts = _program(tmp_path, end_play_out_s=1.0)
        program.attach("push", high=5 * RATE, ceiling=6 * RATE)
        program.write("push", _tone(4.0))
        await asyncio.sleep(0.1)
        await program.end()
        assert 1.0 <= sum(p.duration for p in parts) < 2.5
        assert program.mixer.dropped >= 1.5 * RATE  # counted (exported as a metric), logged

    asyncio.run(run())

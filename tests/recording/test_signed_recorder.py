"""The recorder with a signing identity, on each real store (files on disk, PostgreSQL): a
checkpoint signed after each segment, kept in the store and in memory for the routes, and the
sealed manifest (key seal, init section, per-segment frame digests) read back from the store
verifies with the key, so any origin sharing the store can publish and check the record."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.recording.signed import TRACK, identity, make_segment
from townhall.media.cmaf import init_segment
from townhall.recording import checkpoint, withdrawal
from townhall.recording.recorder import CHECKPOINTS_IN_MEMORY, Recorder, recover
from townhall.recording.verify import check_segments, open_manifest
from townhall.store.base import RecordingStore
from townhall.store.factory import Stores
from townhall.store.recording_files import CHECKPOINTS, FileRecordings

SID = "abcdefghjk"


@pytest.fixture
def store(open_store: Callable[[], Stores]) -> Iterator[RecordingStore]:
    yield open_store().recordings


def record(store: RecordingStore, count: int, every: int = 1, sid: str = SID,
           finish: bool = True) -> Recorder:
    async def run() -> Recorder:
        rec = Recorder(store, sid, b"k" * 32, identity(), every)
        rec.start(init_segment(TRACK))
        for msn in range(count):
            rec.segment(msn, make_segment(msn), 0.256, 1.7e9 + msn, False)
        if finish:
            await rec.finish()
        else:
            await rec.flush()
        return rec
    return asyncio.run(run())


def test_each_segment_gets_a_checkpoint_that_the_sealed_stored_recording_extends(
        store: RecordingStore) -> None:
    rec = record(store, 5)
    kept = store.checkpoints(SID)
    assert [json.loads(d["payload"])["msn"] for d in kept] == [0, 1, 2, 3, 4]
    assert list(rec.checkpoints) == [0, 1, 2, 3, 4] and list(rec.checkpoints.values()) == kept
    stored = store.manifest(SID)
    assert stored is not None and stored.complete and stored.key_seal is not None
    assert stored.init is not None and all(e.frames == 12 for e in stored.segments)
    assert rec.manifest is not None and stored.to_dict() == rec.manifest.to_dict()
    assert stored.verify_signature(b"k" * 32)  # the HMAC covers the new fields too
    manifest = open_manifest(stored.to_dict(), identity().public)
    for doc in kept:
        checkpoint.check_against(checkpoint.open_checkpoint(doc, identity().public), manifest)
    init = store.init(SID)
    segments = [store.segment(SID, e) for e in manifest.segments]
    assert init is not None and all(s is not None for s in segments)
    assert check_segments(manifest, init, [s for s in segments if s]).segments == 5


def test_checkpoints_every_n_segments_and_a_bounded_memory(store: RecordingStore) -> None:
    record(store, 6, every=3, sid="a")
    assert [json.loads(d["payload"])["msn"] for d in store.checkpoints("a")] == [2, 5]
    rec = record(store, CHECKPOINTS_IN_MEMORY + 5, sid="b")
    assert len(rec.checkpoints) == CHECKPOINTS_IN_MEMORY and next(iter(rec.checkpoints)) == 5
    assert len(store.checkpoints("b")) == CHECKPOINTS_IN_MEMORY + 5


def test_a_checkpoint_stored_twice_is_kept_once(store: RecordingStore) -> None:
    rec = record(store, 2)
    store.append_checkpoint(SID, 1, rec.checkpoints[1])  # a write retried after it landed
    assert [json.loads(d["payload"])["msn"] for d in store.checkpoints(SID)] == [0, 1]
    assert store.checkpoint(SID, None) == rec.checkpoints[1]
    assert store.checkpoint(SID, 0) == rec.checkpoints[0]
    assert store.checkpoint(SID, 7) is None and store.checkpoint("other", None) is None


def test_a_recovered_recording_seals_with_the_key_after_a_restart(
        open_store: Callable[[], Stores]) -> None:
    record(open_store().recordings, 3, finish=False)  # the origin dies while live
    again = open_store().recordings  # a restarted (or another) origin
    manifest = recover(again, SID)
    assert manifest is not None and manifest.init is not None

    async def seal() -> None:
        rec = Recorder(again, SID, b"k" * 32, identity())
        rec.manifest = manifest
        await rec.finish()
    asyncio.run(seal())
    stored = again.manifest(SID)
    assert stored is not None and stored.verify_signature(b"k" * 32)
    open_manifest(stored.to_dict(), identity().public)
    assert len(again.checkpoints(SID)) == 3


def test_a_withdrawal_is_kept_once_and_survives_a_reopen(
        open_store: Callable[[], Stores]) -> None:
    store = open_store().recordings
    rec = record(store, 2)
    assert store.withdrawal(SID) is None and rec.manifest is not None
    first = withdrawal.make(rec.manifest, 1.8e9, identity())
    store.put_withdrawal(SID, first)
    store.put_withdrawal(SID, withdrawal.make(rec.manifest, 1.9e9, identity()))
    assert open_store().recordings.withdrawal(SID) == first


def test_a_torn_last_checkpoint_line_is_skipped(tmp_path: Path) -> None:
    store = FileRecordings(tmp_path)
    record(store, 2)
    with open(tmp_path / SID / CHECKPOINTS, "ab") as f:
        f.write(b'{"payload": "{\\"ty')
    assert len(store.checkpoints(SID)) == 2
    shutil.rmtree(tmp_path / SID)
    assert store.checkpoints(SID) == []

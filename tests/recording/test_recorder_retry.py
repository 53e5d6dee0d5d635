"""A published segment is never lost to a failed write: retried until it lands, with a
descriptor from the reserve when the table is full."""

from __future__ import annotations

import asyncio
import errno
import os
import resource
from pathlib import Path

from townhall.live.descriptors import DescriptorReserve
from townhall.recording.manifest import RecordingManifest, SegmentEntry
from townhall.recording.recorder import Recorder
from townhall.store.recording_files import FileRecordings

INIT = b"ftyp-moov"
SECRET = b"k" * 32


async def publish_segments(rec: Recorder, count: int) -> None:
    for msn in range(count):
        data = b"seg %d " % msn * 50
        rec.part(msn, 0, data, 2.24, 1.7e9 + msn, False)
        rec.segment(msn, data, 2.24, 1.7e9 + msn, False)


class FullDisk(FileRecordings):
    """Recording files whose first few segment writes fail as on a full disk."""

    def __init__(self, root: Path, failures: int) -> None:
        super().__init__(root)
        self.failures = failures

    def close_segment(self, space_id: str, entry: SegmentEntry, data: bytes,
                      manifest: RecordingManifest) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        super().close_segment(space_id, entry, data, manifest)


def test_writes_that_fail_are_retried_until_they_land(tmp_path: Path) -> None:
    store = FullDisk(tmp_path, failures=5)

    async def run() -> Recorder:
        rec = Recorder(store, "sp", SECRET)
        rec.start(INIT)
        await publish_segments(rec, 4)
        await rec.finish()
        return rec

    rec = asyncio.run(run())
    assert rec.write_errors == 5 and rec.failed is None
    manifest = store.manifest("sp")
    assert manifest is not None and len(manifest.segments) == 4 and manifest.complete
    for seg in manifest.segments:
        assert store.segment("sp", seg) == b"seg %d " % seg.msn * 50


def test_a_full_descriptor_table_costs_no_segment(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    store = FileRecordings(tmp_path)
    reserve = DescriptorReserve()
    held: list[int] = []

    def fill_table() -> None:  # every further open in this process fails with EMFILE
        while True:
            try:
                held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError as exc:
                assert exc.errno == errno.EMFILE
                return

    async def run() -> Recorder:
        rec = Recorder(store, "sp", SECRET, reserve=reserve.borrow)
        rec.start(INIT)
        await rec.flush()  # the writer thread exists before the table fills
        fill_table()
        try:
            await publish_segments(rec, 3)
            await asyncio.wait_for(rec.flush(), 20)
        finally:
            for fd in held:
                os.close(fd)
        return rec

    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 512), hard))
        reserve.fill(4)
        rec = asyncio.run(run())
    finally:
        reserve.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert reserve.borrowed > 0 and rec.pending == 0 and rec.failed is None
    manifest = store.manifest("sp")
    assert manifest is not None and [s.msn for s in manifest.segments] == [0, 1, 2]

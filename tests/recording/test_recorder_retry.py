"""A published segment is never lost to a failed write: retried until it lands, with a
descriptor from the reserve when the table is full."""

from __future__ import annotations

import asyncio
import errno
import os
import resource
from pathlib import Path

import pytest

from townhall.live.descriptors import DescriptorReserve
from townhall.recording import recorder as recorder_module
from townhall.recording.recorder import Recorder, load_manifest

INIT = b"ftyp-moov"
SECRET = b"k" * 32


async def publish_segments(rec: Recorder, count: int) -> None:
    for msn in range(count):
        data = b"seg %d " % msn * 50
        rec.part(msn, 0, data, 2.24, 1.7e9 + msn, False)
        rec.segment(msn, data, 2.24, 1.7e9 + msn, False)


def test_writes_that_fail_are_retried_until_they_land(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real = recorder_module._OPS["write"]
    failures = {"left": 5}

    def flaky(path: Path, data: bytes) -> None:
        if path.name.startswith("seg-") and failures["left"] > 0:
            failures["left"] -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setitem(recorder_module._OPS, "write", flaky)

    async def run() -> Recorder:
        rec = Recorder(tmp_path, "sp", SECRET)
        rec.start(INIT)
        await publish_segments(rec, 4)
        await rec.finish()
        return rec

    rec = asyncio.run(run())
    assert rec.write_errors == 5 and rec.failed is None
    manifest = load_manifest(tmp_path)
    assert manifest is not None and len(manifest.segments) == 4
    for seg in manifest.segments:
        assert (tmp_path / seg.file).read_bytes() == b"seg %d " % seg.msn * 50


def test_a_full_descriptor_table_costs_no_segment(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
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
        rec = Recorder(tmp_path, "sp", SECRET, reserve=reserve.borrow)
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
    manifest = load_manifest(tmp_path)
    assert manifest is not None and [s.msn for s in manifest.segments] == [0, 1, 2]

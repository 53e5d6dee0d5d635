"""The recorder on a real disk: parts are journalled as they go out, so a hard crash loses
nothing that listeners heard; the journal becomes the recording's last segment on recovery."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from townhall.recording.manifest import RecordingManifest, verify_chain
from townhall.recording.recorder import JOURNAL, Recorder, recover

INIT = b"ftyp-moov"
SECRET = b"k" * 32
PDT = 1.7e9


def parts(msn: int, n: int) -> list[bytes]:
    return [b"moof-mdat %d.%d " % (msn, i) * 20 for i in range(n)]


async def publish(rec: Recorder, msn: int, n: int, *, close: bool) -> None:
    for i, data in enumerate(parts(msn, n)):
        rec.part(msn, i, data, 0.32, PDT + msn * 2.24, False)
    if close:
        rec.segment(msn, b"".join(parts(msn, n)), 0.32 * n, PDT + msn * 2.24, False)


def crash_after(directory: Path, closed: int, open_parts: int) -> None:
    """Publish `closed` whole segments and `open_parts` parts of the next, wait until the
    writer has them on disk, then stop without finishing (what a SIGKILL leaves)."""
    async def run() -> None:
        rec = Recorder(directory, "sp", SECRET)
        rec.start(INIT)
        for msn in range(closed):
            await publish(rec, msn, 7, close=True)
        await publish(rec, closed, open_parts, close=False)
        await rec.flush()
    asyncio.run(run())


def segment_files(directory: Path, manifest: RecordingManifest) -> list[bytes]:
    return [(directory / e.file).read_bytes() for e in manifest.segments]


def test_a_closed_segment_leaves_no_journal(tmp_path: Path) -> None:
    crash_after(tmp_path, 2, 0)
    assert not (tmp_path / JOURNAL).exists()
    manifest = recover(tmp_path, "sp")
    assert manifest is not None and [e.msn for e in manifest.segments] == [0, 1]


def test_after_a_crash_the_open_segments_parts_become_the_last_segment(tmp_path: Path) -> None:
    crash_after(tmp_path, 2, 3)
    assert (tmp_path / JOURNAL).exists()
    manifest = recover(tmp_path, "sp")
    assert manifest is not None and [e.msn for e in manifest.segments] == [0, 1, 2]
    last = manifest.segments[-1]
    assert (tmp_path / last.file).read_bytes() == b"".join(parts(2, 3))
    assert abs(last.duration - 0.96) < 1e-6 and last.program_date_time == PDT + 2 * 2.24
    verify_chain(manifest, INIT, segment_files(tmp_path, manifest))
    assert not (tmp_path / JOURNAL).exists()
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert RecordingManifest.from_dict(on_disk) == manifest
    assert recover(tmp_path, "sp") == manifest  # recovering twice changes nothing


def test_a_crash_inside_the_first_segment_still_keeps_its_parts(tmp_path: Path) -> None:
    crash_after(tmp_path, 0, 2)
    assert not (tmp_path / "manifest.json").exists()
    manifest = recover(tmp_path, "sp")
    assert manifest is not None and [e.msn for e in manifest.segments] == [0]
    verify_chain(manifest, INIT, segment_files(tmp_path, manifest))


def test_a_journal_torn_in_its_header_is_dropped_without_touching_the_recording(
        tmp_path: Path) -> None:
    crash_after(tmp_path, 1, 0)
    (tmp_path / JOURNAL).write_bytes(b'{"msn": 1, "progr')
    manifest = recover(tmp_path, "sp")
    assert manifest is not None and [e.msn for e in manifest.segments] == [0]
    assert not (tmp_path / JOURNAL).exists()


def test_a_recovered_recording_is_sealed_by_a_finish_without_a_new_start(
        tmp_path: Path) -> None:
    crash_after(tmp_path, 1, 4)

    async def end() -> RecordingManifest | None:
        rec = Recorder(tmp_path, "sp", SECRET)
        rec.manifest = recover(tmp_path, "sp")
        return await rec.finish()

    sealed = asyncio.run(end())
    assert sealed is not None and sealed.complete and sealed.verify_signature(SECRET)
    on_disk = RecordingManifest.from_dict(json.loads((tmp_path / "manifest.json").read_text()))
    assert on_disk.complete and [e.msn for e in on_disk.segments] == [0, 1]

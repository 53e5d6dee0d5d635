"""The embedded default's recording files over a long space: closing a segment appends one
manifest line and costs the same at the first segment and the three-thousandth (the whole
manifest used to be re-encoded and rewritten each time: the writer's time and the origin's
transient memory grew with the space's age); what was appended reads back as the manifest,
also after a torn append, a retried one, or a recording begun by an older version."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from townhall.recording.manifest import RecordingManifest
from townhall.recording.recorder import recover
from townhall.store.recording_files import JOURNAL, MANIFEST, SEGMENTS, FileRecordings

INIT = b"ftyp-moov"
SECRET = b"k" * 32
PDT = 1.7e9
SEGMENT = b"moof-mdat " * 2000  # about a 64 kbit/s AAC segment (2.24 s)


def close(store: FileRecordings, manifest: RecordingManifest, msn: int) -> None:
    entry = manifest.append(msn, SEGMENT + b"%d" % msn, 2.24, PDT + msn * 2.24, False)
    store.close_segment("sp", entry, SEGMENT + b"%d" % msn, manifest)


def started(tmp_path: Path) -> tuple[FileRecordings, RecordingManifest]:
    store = FileRecordings(tmp_path)
    store.put_init("sp", INIT)
    return store, RecordingManifest.start("sp", INIT)


def peak_bytes_of_closing(store: FileRecordings, manifest: RecordingManifest, msn: int) -> int:
    tracemalloc.start()
    try:
        close(store, manifest, msn)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_closing_a_segment_late_in_a_long_space_costs_what_it_cost_at_the_start(
        tmp_path: Path) -> None:
    store, manifest = started(tmp_path)
    close(store, manifest, 0)
    early = peak_bytes_of_closing(store, manifest, 1)
    # three thousand entries: about two hours of 2.24 s segments (the manifest JSON ~2 MB)
    for msn in range(2, 3000):
        manifest.append(msn, b"%d" % msn, 2.24, PDT + msn * 2.24, False)
    late = peak_bytes_of_closing(store, manifest, 3000)
    assert late < early * 1.5 + 16_384, (early, late)
    assert not (tmp_path / "sp" / MANIFEST).exists()  # written once, sealed, at the end


def test_the_appended_lines_read_back_as_the_manifest_and_the_seal_replaces_them(
        tmp_path: Path) -> None:
    store, manifest = started(tmp_path)
    for msn in range(40):
        close(store, manifest, msn)
    lines = (tmp_path / "sp" / SEGMENTS).read_bytes().splitlines()
    assert len(lines) == 40
    assert store.manifest("sp") == manifest
    manifest.seal(SECRET)
    store.put_manifest("sp", manifest)
    sealed = store.manifest("sp")
    assert sealed is not None and sealed.complete and sealed.verify_signature(SECRET)
    assert sealed.segments == manifest.segments


def test_an_append_retried_after_it_landed_is_listed_once(tmp_path: Path) -> None:
    store, manifest = started(tmp_path)
    for msn in range(3):
        close(store, manifest, msn)
    entry = manifest.segments[-1]
    store.close_segment("sp", entry, SEGMENT + b"2", manifest)  # the answer was lost: again
    got = store.manifest("sp")
    assert got is not None and [e.msn for e in got.segments] == [0, 1, 2]


def test_a_torn_append_loses_only_its_own_line_which_the_journal_then_restores(
        tmp_path: Path) -> None:
    store, manifest = started(tmp_path)
    for msn in range(3):
        close(store, manifest, msn)
    # a crash while segment 3 was closing: its file is written, its line torn, and its
    # journal (removed only after the line lands) still there
    blob = b"".join([b"open segment journal"])
    store.write_journal("sp", blob)
    with open(tmp_path / "sp" / SEGMENTS, "ab") as f:
        f.write(b'{"msn":3,"file":"seg-000')
    got = store.manifest("sp")
    assert got is not None and [e.msn for e in got.segments] == [0, 1, 2]
    assert (tmp_path / "sp" / JOURNAL).exists()
    # the next line is appended on a line of its own, never glued to the torn one
    close(store, manifest, 3)
    got = store.manifest("sp")
    assert got is not None and [e.msn for e in got.segments] == [0, 1, 2, 3]


def test_a_crash_after_many_segments_recovers_every_closed_one(tmp_path: Path) -> None:
    store, manifest = started(tmp_path)
    for msn in range(200):
        close(store, manifest, msn)
    recovered = recover(store, "sp")
    assert recovered is not None and recovered.segments == manifest.segments
    assert store.has_recording("sp")


def test_a_recording_begun_with_a_whole_manifest_file_goes_on_with_appended_lines(
        tmp_path: Path) -> None:
    """An origin upgraded during a live space: its manifest.json (unsealed) lists the first
    segments, segments.jsonl the ones closed after the restart."""
    store, manifest = started(tmp_path)
    for msn in range(3):
        manifest.append(msn, SEGMENT, 2.24, PDT + msn * 2.24, False)
    (tmp_path / "sp" / MANIFEST).write_text(json.dumps(manifest.to_dict()))
    for msn in range(3, 6):
        close(store, manifest, msn)
    got = store.manifest("sp")
    assert got is not None and got.segments == manifest.segments

"""The replay download: one seekable `.m4a` built from a sealed recording's segments.

Owns `<recordings>/<space>/replay.m4a` on this origin's disk (a cache: it is built from the
RecordingStore, files or PostgreSQL, so any origin of a cluster can build it). The
hash-chained manifest chains the published segments (served as they are by
`/replay/ID/media.m3u8`); this file is a re-mux of those same AAC access units, byte for byte
and in order, into a progressive MP4 whose moov carries the true duration and a full sample
index (`townhall.media.progressive`), so any player over HTTP (Range requests) shows the
length and seeks. Built once, when first asked for; written to a temporary name and renamed,
so a reader never sees half a file. Later steps that add to the download (Content
Credentials) hook in at `build_download`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from townhall.media.progressive import SampleTable, fragments, progressive_head
from townhall.recording.manifest import RecordingManifest, SegmentEntry
from townhall.store.base import RecordingStore

DOWNLOAD = "replay.m4a"


def download_path(directory: Path) -> Path:
    return directory / DOWNLOAD


def _read(data: bytes | None, what: str) -> bytes:
    if data is None:
        raise FileNotFoundError(f"the recording has no {what}")
    return data


def build_download(store: RecordingStore, manifest: RecordingManifest, directory: Path) -> Path:
    """The progressive `.m4a` of a complete recording (built once into `directory`, then
    reused). Blocking: call from a worker thread. ValueError if a segment cannot be read as
    CMAF; FileNotFoundError if the store lacks a part of the recording."""
    out = download_path(directory)
    if out.exists():
        return out
    sid = manifest.space_id
    init = _read(store.init(sid), "init section")

    def segment(entry: SegmentEntry) -> bytes:
        return _read(store.segment(sid, entry), f"segment {entry.msn}")

    table = SampleTable()
    for entry in manifest.segments:
        for fragment in fragments(segment(entry)):
            table.add(fragment)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{DOWNLOAD}.{secrets.token_hex(6)}.tmp")  # concurrent builds
    with open(tmp, "wb") as f:
        f.write(progressive_head(init, table))
        for entry in manifest.segments:  # the same access units, in the same order
            data = segment(entry)
            for fragment in fragments(data):
                f.write(fragment.samples(data))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)
    return out

"""The replay download: one seekable `.m4a` built from a sealed recording's segments.

Owns `<recordings>/<space>/replay.m4a`. The hash-chained manifest chains the published
segments (served as they are by `/replay/ID/media.m3u8`); this file is a re-mux of those same
AAC access units, byte for byte and in order, into a progressive MP4 whose moov carries the
true duration and a full sample index (`townhall.media.progressive`), so any player over
HTTP (Range requests) shows the length and seeks. Built once, when first asked for;
written to a temporary name and renamed, so a reader never sees half a file.
Later steps that add to the download (Content Credentials) hook in at `build_download`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from townhall.media.progressive import SampleTable, fragments, progressive_head
from townhall.recording.manifest import RecordingManifest

DOWNLOAD = "replay.m4a"


def download_path(directory: Path) -> Path:
    return directory / DOWNLOAD


def build_download(directory: Path, manifest: RecordingManifest) -> Path:
    """The progressive `.m4a` of a complete recording (built once, then reused). Blocking:
    call from a worker thread. ValueError if a segment cannot be read as CMAF."""
    out = download_path(directory)
    if out.exists():
        return out
    init = (directory / "init.mp4").read_bytes()
    table = SampleTable()
    for entry in manifest.segments:
        for fragment in fragments((directory / entry.file).read_bytes()):
            table.add(fragment)
    tmp = out.with_name(f".{DOWNLOAD}.{secrets.token_hex(6)}.tmp")  # concurrent builds
    with open(tmp, "wb") as f:
        f.write(progressive_head(init, table))
        for entry in manifest.segments:  # the same access units, in the same order
            data = (directory / entry.file).read_bytes()
            for fragment in fragments(data):
                f.write(fragment.samples(data))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)
    return out

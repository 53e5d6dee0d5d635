"""A small signed recording built in memory from real CMAF fragments (fake AAC payloads)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import struct
from dataclasses import dataclass
from pathlib import Path

from townhall.media.cmaf import AudioTrack, box, fragment, full_box, init_segment
from townhall.recording import checkpoint
from townhall.recording.frames import sample_description
from townhall.recording.manifest import RecordingManifest
from townhall.recording.signing import SigningIdentity, create_identity

SPACE = "abcdefghjk"
T0 = 1_700_000_000.0
TRACK = AudioTrack(48000, 1, bytes.fromhex("1188"), 64000)


@functools.cache
def identity(name: str = "test") -> SigningIdentity:
    return create_identity(name, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def make_segment(msn: int, parts: int = 3, frames: int = 4) -> bytes:
    out = b""
    for p in range(parts):
        samples = [bytes([msn % 256, p, f]) * (20 + f) for f in range(frames)]
        out += fragment(msn * parts + p + 1, (msn * parts + p) * frames * 1024, samples, 1024)
    return out


@dataclass
class Recording:
    init: bytes
    segments: list[bytes]
    manifest: RecordingManifest
    checkpoints: list[dict[str, str]]

    @property
    def replay(self) -> bytes:
        return self.init + b"".join(self.segments)

    def manifest_doc(self) -> dict[str, object]:
        return self.manifest.to_dict()

    def write(self, directory: Path, replay: bytes | None = None) -> tuple[Path, Path]:
        media = directory / "replay.m4a"
        media.write_bytes(self.replay if replay is None else replay)
        manifest = directory / "manifest.json"
        manifest.write_text(json.dumps(self.manifest_doc()))
        return media, manifest


def make_recording(count: int = 6, who: SigningIdentity | None = None) -> Recording:
    who = who or identity()
    init = init_segment(TRACK)
    manifest = RecordingManifest.start(SPACE, init)
    segments, checkpoints = [], []
    for msn in range(count):
        data = make_segment(msn)
        segments.append(data)
        manifest.append(msn, data, 0.256, T0 + 0.256 * msn, False)
        checkpoints.append(checkpoint.make(who, manifest, T0 + 0.256 * (msn + 1)))
    manifest.seal(b"s" * 32)
    manifest.seal_with_key(who)
    return Recording(init, segments, manifest, checkpoints)


def remux_progressive(init: bytes, frames: list[bytes], stsd: bytes | None = None) -> bytes:
    """A minimal progressive MP4 (ftyp, moov with a sample table, mdat) of `frames`, one
    chunk of them, with the init section's sample description unless `stsd` is given."""
    stsd = stsd if stsd is not None else sample_description(init)
    ftyp = init[:struct.unpack_from(">I", init)[0]]
    sizes = b"".join(struct.pack(">I", len(f)) for f in frames)

    def head(offset: int) -> bytes:
        stbl = box(b"stbl", box(b"stsd", stsd),
                   full_box(b"stsz", 0, 0, struct.pack(">II", 0, len(frames)), sizes),
                   full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(frames), 1)),
                   full_box(b"stco", 0, 0, struct.pack(">II", 1, offset)))
        moov = box(b"moov", box(b"trak", box(b"mdia", box(b"minf", stbl))))
        return ftyp + moov

    offset = len(head(0)) + 8
    return head(offset) + box(b"mdat", *frames)

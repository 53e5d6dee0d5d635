"""A small signed recording built in memory from real CMAF fragments (fake AAC payloads)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from pathlib import Path

from townhall.media.cmaf import AudioTrack, fragment, init_segment
from townhall.recording import checkpoint
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

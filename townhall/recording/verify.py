"""Checks a replay, a clip or a set of segments against the signed recording manifest.

Sans-IO: bytes in, a `Verified` summary or a `Tampered` error naming what differs. What is
checked, in order:

1. the manifest's `key_seal` is a statement signed by the given key (`statement.py`); its
   payload, not the unsigned fields around it, is the recording;
2. the media bytes: top-level C2PA boxes (`uuid` d8fec3d6-…, the Content Credentials) are set
   aside, everything before the first `moof` is the init section (SHA-256 = init_sha256), and
   then each segment of the manifest must follow, byte for byte (SHA-256 = its entry), in
   order, with nothing after the last. The first one that differs is named: a flipped byte, a
   cut, a swap or an insertion all surface as "segment N differs";
3. the chain recomputed over those digests ends at the signed head.

A clip is the same check over the segments from its first to its last number. A re-muxed
download (one progressive MP4: ftyp, moov, mdat) is checked by its AAC frames instead
(`check_frames`), read through its sample table, against each entry's frame count and frame
digest; its AAC config (AudioSpecificConfig) must be the signed init section's.
`check_file` picks the check by the file's shape.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from townhall.recording import statement
from townhall.recording.frames import (
    audio_config,
    progressive_frames,
    sample_description,
    walk,
)
from townhall.recording.manifest import RecordingManifest, SegmentEntry

C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")


class Tampered(ValueError):
    """The bytes are not the signed recording; `msn` names the first segment that differs."""

    def __init__(self, message: str, msn: int | None = None) -> None:
        super().__init__(message)
        self.msn = msn


@dataclass(frozen=True)
class Verified:
    space_id: str
    first_msn: int
    last_msn: int
    segments: int
    duration: float
    head: str
    has_credentials: bool  # C2PA boxes were present (validated separately, `credentials.py`)


def open_manifest(doc: Any, public: ec.EllipticCurvePublicKey) -> RecordingManifest:
    """The recording as signed: raises statement.BadStatement if the seal does not hold."""
    if not isinstance(doc, dict) or doc.get("key_seal") is None:
        raise statement.BadStatement("the manifest is not sealed with a key (key_seal)")
    body = statement.open_statement(doc["key_seal"], public, "manifest")
    body.pop("type", None)
    try:
        manifest = RecordingManifest.from_dict({**body, "signature": None, "key_seal": None})
    except (KeyError, TypeError) as exc:
        raise statement.BadStatement(f"the signed manifest is incomplete: {exc}") from None
    if not manifest.complete:
        raise statement.BadStatement("the signed manifest is not complete")
    return manifest


def split_media(data: bytes) -> tuple[bytes, bytes, bool]:
    """(init section, fragments, had C2PA boxes) of a fragmented MP4 file."""
    try:
        boxes = walk(data)
    except ValueError as exc:
        raise Tampered(f"the file is not a readable MP4: {exc}") from None
    init: list[bytes] = []
    rest: list[bytes] = []
    credentials, in_fragments = False, False
    pos = 0
    for fourcc, start, end in boxes:
        raw = data[pos:end]
        pos = end
        if fourcc == b"uuid" and data[start:start + 16] == C2PA_UUID:
            credentials = True
            continue
        in_fragments = in_fragments or fourcc in (b"moof", b"mdat")
        (rest if in_fragments else init).append(raw)
    return b"".join(init), b"".join(rest), credentials


def _where(entry: SegmentEntry, start: float) -> str:
    return f"segment {entry.msn} (at {start:.2f} s)"


def check_range(manifest: RecordingManifest, data: bytes, first: int | None = None,
                last: int | None = None) -> Verified:
    """`data` (a replay, or a clip of segments first..last) is exactly the signed bytes."""
    entries = [e for e in manifest.segments
               if (first is None or e.msn >= first) and (last is None or e.msn <= last)]
    if not entries:
        raise Tampered(f"the recording has no segments {first}..{last}")
    init, body, credentials = split_media(data)
    if hashlib.sha256(init).hexdigest() != manifest.init_sha256:
        raise Tampered("the init section (codec setup) differs from the signed recording")
    offsets = {e.msn: sum(x.duration for x in manifest.segments if x.msn < e.msn)
               for e in entries}
    pos = 0
    for entry in entries:
        chunk = body[pos:pos + entry.bytes]
        if len(chunk) < entry.bytes:
            raise Tampered(f"{_where(entry, offsets[entry.msn])} is missing: the file ends "
                           f"{len(body) - pos} bytes into it", entry.msn)
        if hashlib.sha256(chunk).hexdigest() != entry.sha256:
            raise Tampered(f"{_where(entry, offsets[entry.msn])} differs from the signed "
                           "recording", entry.msn)
        pos += entry.bytes
    if pos != len(body):
        raise Tampered(f"{len(body) - pos} bytes follow segment {entries[-1].msn}, the last "
                       "one signed", entries[-1].msn)
    check_chain(manifest)
    return Verified(manifest.space_id, entries[0].msn, entries[-1].msn, len(entries),
                    sum(e.duration for e in entries), manifest.head, credentials)


def check_chain(manifest: RecordingManifest) -> None:
    """The chain of the signed entries holds (a signed manifest always has one that does)."""
    head = manifest.init_sha256
    for entry in manifest.segments:
        head = hashlib.sha256(bytes.fromhex(head) + bytes.fromhex(entry.sha256)).hexdigest()
        if head != entry.chain:
            raise Tampered(f"the manifest's chain breaks at segment {entry.msn}", entry.msn)


def check_segments(manifest: RecordingManifest, init: bytes, segments: list[bytes]) -> Verified:
    """Segments fetched one by one (the replay playlist's), in the manifest's order."""
    return check_range(manifest, init + b"".join(segments))


def check_file(manifest: RecordingManifest, data: bytes, first: int | None = None,
               last: int | None = None) -> Verified:
    """A replay or clip file, fragmented (the live bytes) or progressive (re-muxed)."""
    try:
        kinds = {kind for kind, _, _ in walk(data)}
    except ValueError as exc:
        raise Tampered(f"the file is not a readable MP4: {exc}") from None
    if b"moof" in kinds or b"moov" not in kinds:
        return check_range(manifest, data, first, last)
    try:
        frames, description = progressive_frames(data)
    except ValueError as exc:
        raise Tampered(f"the file's sample table is unreadable: {exc}") from None
    if manifest.init is not None:
        signed = audio_config(sample_description(base64.b64decode(manifest.init)))
        try:
            mine = audio_config(description)
        except ValueError as exc:
            raise Tampered(f"the file's codec setup is unreadable: {exc}") from None
        # ISO/IEC 14496-14 §5.6: an MPEG-4 audio decoder takes its setup from the
        # AudioSpecificConfig; muxers fill the entry's channel count and rate as they like
        if mine[2] != signed[2]:
            raise Tampered(f"the codec setup differs from the signed recording's (AAC "
                           f"config {mine[2].hex()} instead of {signed[2].hex()})")
    result = check_frames(manifest, frames, first, last)
    credentials = split_media(data)[2]
    return Verified(result.space_id, result.first_msn, result.last_msn, result.segments,
                    result.duration, result.head, credentials)


def check_frames(manifest: RecordingManifest, frames: list[bytes], first: int | None = None,
                 last: int | None = None) -> Verified:
    """A re-muxed file's AAC frames, in order, against each entry's frame count and digest
    (the entries from `first` to `last` for a clip)."""
    entries = [e for e in manifest.segments
               if (first is None or e.msn >= first) and (last is None or e.msn <= last)]
    if not entries:
        raise Tampered(f"the recording has no segments {first}..{last}")
    pos = 0
    start = sum(e.duration for e in manifest.segments if e.msn < entries[0].msn)
    for entry in entries:
        if not entry.frames_sha256:
            raise Tampered("the manifest records no frame digests (recorded before they were "
                           "kept); verify the segments instead")
        mine = frames[pos:pos + entry.frames]
        if len(mine) < entry.frames or \
                hashlib.sha256(b"".join(mine)).hexdigest() != entry.frames_sha256:
            raise Tampered(f"{_where(entry, start)} differs from the signed recording "
                           "(its audio frames)", entry.msn)
        pos += entry.frames
        start += entry.duration
    if pos != len(frames):
        raise Tampered(f"{len(frames) - pos} audio frames follow segment {entries[-1].msn}, "
                       "the last one signed", entries[-1].msn)
    check_chain(manifest)
    return Verified(manifest.space_id, entries[0].msn, entries[-1].msn, len(entries),
                    sum(e.duration for e in entries), manifest.head, False)

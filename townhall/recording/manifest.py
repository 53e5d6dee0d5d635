"""The recording manifest: each segment's hash chained to the previous, signed at the end.

Sans-IO. chain[n] = SHA-256(chain[n-1] || sha256(segment n)); chain[-1] = SHA-256(init).
Anyone holding the files can recompute the chain; the HMAC says this origin published it, and
`key_seal` (a signed statement, `statement.py`) says so to anyone holding the public key. Each
entry also records its AAC frames (count and SHA-256 of their payloads, `frames.py`), so a
re-muxed download can be checked frame for frame. Never reads or writes files itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from townhall.recording import statement
from townhall.recording.frames import fragment_frames, frames_digest
from townhall.recording.signing import SigningIdentity


@dataclass(frozen=True)
class SegmentEntry:
    msn: int
    file: str
    bytes: int
    duration: float
    program_date_time: float
    discontinuity: bool
    sha256: str
    chain: str
    frames: int = 0  # AAC access units in the segment
    frames_sha256: str = ""  # SHA-256 of their payloads, concatenated in order


@dataclass
class RecordingManifest:
    space_id: str
    init_sha256: str
    segments: list[SegmentEntry] = field(default_factory=list)
    complete: bool = False
    signature: str | None = None
    key_seal: dict[str, str] | None = None  # the statement signed with the deployment's key
    init: str | None = None  # the init section, base64: a re-muxed file's codec setup is
    # checked against it (a few hundred bytes)

    @classmethod
    def start(cls, space_id: str, init: bytes) -> RecordingManifest:
        return cls(space_id, hashlib.sha256(init).hexdigest(),
                   init=base64.b64encode(init).decode())

    @property
    def head(self) -> str:
        if self.segments:
            return self.segments[-1].chain
        return self.init_sha256

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    def append(self, msn: int, data: bytes, duration: float, program_date_time: float,
               discontinuity: bool) -> SegmentEntry:
        if self.complete:
            raise ValueError("the recording is sealed")
        if self.segments and msn <= self.segments[-1].msn:
            raise ValueError(f"segment {msn} is not after {self.segments[-1].msn}")
        digest = hashlib.sha256(data).hexdigest()
        chain = hashlib.sha256(bytes.fromhex(self.head) + bytes.fromhex(digest)).hexdigest()
        try:
            frames = fragment_frames(data)
        except ValueError:  # not CMAF (never from our packager): the chain still holds
            frames = []
        entry = SegmentEntry(msn, f"seg-{msn:08d}.m4s", len(data), duration,
                             program_date_time, discontinuity, digest, chain, len(frames),
                             frames_digest(frames) if frames else "")
        self.segments.append(entry)
        return entry

    def _payload(self) -> bytes:
        body = self.to_dict()
        body.pop("signature", None)
        body.pop("key_seal", None)
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def seal(self, secret: bytes) -> None:
        self.complete = True
        self.signature = hmac.new(secret, self._payload(), hashlib.sha256).hexdigest()

    def seal_with_key(self, identity: SigningIdentity) -> None:
        """Sign the sealed manifest with the deployment's key (after `seal`)."""
        body = self.to_dict()
        body.pop("signature", None)
        body.pop("key_seal", None)
        body["type"] = "townhall.manifest"
        self.key_seal = statement.sign(identity, body)

    def verify_signature(self, secret: bytes) -> bool:
        if self.signature is None:
            return False
        want = hmac.new(secret, self._payload(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(want, self.signature)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RecordingManifest:
        segs = [SegmentEntry(**s) for s in d["segments"]]
        return cls(d["space_id"], d["init_sha256"], segs, d["complete"], d["signature"],
                   d.get("key_seal"), d.get("init"))


def verify_chain(manifest: RecordingManifest, init: bytes, segments: list[bytes]) -> None:
    """Raise ValueError naming the first segment whose bytes do not match the chain."""
    if hashlib.sha256(init).hexdigest() != manifest.init_sha256:
        raise ValueError("init section does not match the manifest")
    if len(segments) != len(manifest.segments):
        raise ValueError(f"{len(segments)} segments given, manifest lists "
                         f"{len(manifest.segments)}")
    head = manifest.init_sha256
    for entry, data in zip(manifest.segments, segments, strict=True):
        digest = hashlib.sha256(data).hexdigest()
        head = hashlib.sha256(bytes.fromhex(head) + bytes.fromhex(digest)).hexdigest()
        if digest != entry.sha256 or head != entry.chain:
            raise ValueError(f"segment {entry.msn} does not match the chain")

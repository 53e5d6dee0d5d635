"""The audio frames inside CMAF fragments: what a re-muxed file must still carry, byte for byte.

Sans-IO. A segment's bytes include its boxes (moof: sequence numbers, decode times, offsets),
which a re-muxed download (one progressive MP4) rewrites; its AAC access units it never may.
So the manifest records, per segment, the number of frames and the SHA-256 of their payloads
concatenated in decode order, and any container carrying the same frames can be checked
against the signed recording. Never decodes audio.
"""

from __future__ import annotations

import hashlib
import struct

from townhall.media.cmaf import iter_boxes


def _child(payload: bytes, fourcc: bytes) -> bytes | None:
    for kind, body in iter_boxes(payload):
        if kind == fourcc:
            return body
    return None


def fragment_frames(data: bytes) -> list[bytes]:
    """The access units of every moof+mdat in `data`, in order (ValueError if malformed)."""
    frames: list[bytes] = []
    sizes: list[int] | None = None
    for kind, body in iter_boxes(data):
        if kind == b"moof":
            traf = _child(body, b"traf")
            trun = _child(traf, b"trun") if traf is not None else None
            if trun is None or len(trun) < 8:
                raise ValueError("a moof without traf/trun")
            flags = int.from_bytes(trun[1:4], "big")
            count = struct.unpack_from(">I", trun, 4)[0]
            pos = 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
            per = sum(4 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
            if not flags & 0x200 or pos + per * count > len(trun):
                raise ValueError("trun without per-sample sizes")
            off = pos + (4 if flags & 0x100 else 0)
            sizes = [struct.unpack_from(">I", trun, off + i * per)[0] for i in range(count)]
        elif kind == b"mdat":
            if sizes is None:
                raise ValueError("an mdat without its moof")
            at = 0
            for size in sizes:
                if at + size > len(body):
                    raise ValueError("mdat shorter than its samples")
                frames.append(body[at:at + size])
                at += size
            sizes = None
    return frames


def frames_digest(frames: list[bytes]) -> str:
    return hashlib.sha256(b"".join(frames)).hexdigest()

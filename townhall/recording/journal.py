"""The open segment's journal: the parts of the segment being published, as they go out.

Sans-IO. A segment is fsynced when it closes; until then its parts (already heard live) live
only in this journal, so a hard crash loses nothing that was published. Layout:

    {"msn": 12, "program_date_time": 1.7e9, "discontinuity": false}\n     (the header line)
    then per part: length (u32) | crc32 of the bytes (u32) | duration in µs (u64) | bytes

A crash can tear the last record; `parse` keeps every complete record before it.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field

RECORD = struct.Struct(">IIQ")


@dataclass
class OpenSegment:
    msn: int
    program_date_time: float
    discontinuity: bool
    parts: list[tuple[bytes, float]] = field(default_factory=list)  # (bytes, duration)

    @property
    def data(self) -> bytes:
        return b"".join(data for data, _ in self.parts)

    @property
    def duration(self) -> float:
        return sum(d for _, d in self.parts)


def header(msn: int, program_date_time: float, discontinuity: bool) -> bytes:
    return json.dumps({"msn": msn, "program_date_time": program_date_time,
                       "discontinuity": discontinuity}).encode() + b"\n"


def record(data: bytes, duration: float) -> bytes:
    return RECORD.pack(len(data), zlib.crc32(data), round(duration * 1e6)) + data


def parse(blob: bytes) -> OpenSegment:
    """The journal's segment and every complete part; ValueError if the header is unusable
    (a record torn or damaged by the crash ends the parts, it is not an error)."""
    end = blob.find(b"\n")
    if end < 0:
        raise ValueError("journal header is incomplete")
    try:
        head = json.loads(blob[:end])
        seg = OpenSegment(int(head["msn"]), float(head["program_date_time"]),
                          bool(head["discontinuity"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"journal header is unreadable: {exc}") from None
    pos = end + 1
    while pos + RECORD.size <= len(blob):
        length, crc, micros = RECORD.unpack_from(blob, pos)
        data = blob[pos + RECORD.size: pos + RECORD.size + length]
        if len(data) < length or zlib.crc32(data) != crc:
            break
        seg.parts.append((data, micros / 1e6))
        pos += RECORD.size + length
    return seg

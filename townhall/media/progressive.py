"""Re-muxes CMAF fragments into one progressive MP4 (ISO/IEC 14496-12) with a full index.

A fragmented file has no duration up front and no sample index, so a player reading it over
HTTP sees the first fragment's length and cannot seek. This builds `ftyp + moov + mdat`:
the moov (before the media, "fast start") carries the true duration and a complete sample
table (stts/stsc/stsz/stco), one chunk per CMAF fragment, and the mdat carries the very same
AAC access units in the same order, byte for byte. Sans-IO: fed the init section and each
fragment's bytes, it returns table entries and the file head; the caller writes the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from townhall.media.cmaf import MOVIE_TIMESCALE, UNITY_MATRIX, box, full_box, iter_boxes

# tfhd (§8.8.7) and trun (§8.8.8) optional fields, in their order
TFHD_FIELDS = ((0x01, 8), (0x02, 4), (0x08, 4), (0x10, 4), (0x20, 4))
TRUN_DATA_OFFSET, TRUN_FIRST_FLAGS = 0x001, 0x004
TRUN_SAMPLE_FIELDS = (0x100, 0x200, 0x400, 0x800)
CO64_ABOVE = 0xFFFFFFFF


def child(data: bytes, *path: bytes) -> bytes:
    """The payload of the box at `path` (each step a child of the last); ValueError if absent."""
    for fourcc in path:
        found = [payload for name, payload in iter_boxes(data) if name == fourcc]
        if not found:
            raise ValueError(f"no {fourcc.decode()} box")
        data = found[0]
    return data


@dataclass(frozen=True)
class Fragment:
    """One moof's samples: their durations and sizes, and where their bytes begin (an
    offset into the bytes it was parsed from; a trun's samples are contiguous)."""

    durations: list[int]
    sizes: list[int]
    data_start: int

    def samples(self, data: bytes) -> bytes:
        return data[self.data_start:self.data_start + sum(self.sizes)]


def fragments(data: bytes) -> list[Fragment]:
    """Every moof of a CMAF segment or part, in order."""
    out: list[Fragment] = []
    pos = 0
    for name, payload in iter_boxes(data):
        if name == b"moof":
            out.append(_fragment(payload, pos))
        pos += len(payload) + 8
    return out


def _fragment(moof: bytes, pos: int) -> Fragment:
    traf = child(moof, b"traf")
    tfhd = child(traf, b"tfhd")
    flags = struct.unpack_from(">I", tfhd)[0] & 0xFFFFFF
    at, default_duration, default_size = 8, 0, 0
    for bit, width in TFHD_FIELDS:
        if flags & bit:
            if bit == 0x08:
                default_duration = struct.unpack_from(">I", tfhd, at)[0]
            elif bit == 0x10:
                default_size = struct.unpack_from(">I", tfhd, at)[0]
            elif bit == 0x01:
                raise ValueError("tfhd base_data_offset is not supported (CMAF uses moof)")
            at += width
    trun = child(traf, b"trun")
    tflags = struct.unpack_from(">I", trun)[0] & 0xFFFFFF
    count = struct.unpack_from(">I", trun, 4)[0]
    at = 8
    data_offset = 0
    if tflags & TRUN_DATA_OFFSET:
        data_offset = struct.unpack_from(">i", trun, at)[0]
        at += 4
    if tflags & TRUN_FIRST_FLAGS:
        at += 4
    durations, sizes = [], []
    for _ in range(count):
        duration, size = default_duration, default_size
        for bit in TRUN_SAMPLE_FIELDS:
            if tflags & bit:
                value = struct.unpack_from(">I", trun, at)[0]
                at += 4
                if bit == 0x100:
                    duration = value
                elif bit == 0x200:
                    size = value
        durations.append(duration)
        sizes.append(size)
    if not tflags & TRUN_DATA_OFFSET:
        data_offset = len(moof) + 8 + 8  # right after the mdat header that follows
    return Fragment(durations, sizes, pos + data_offset)


@dataclass
class SampleTable:
    """The index of the progressive file, grown one fragment (= one chunk) at a time."""

    durations: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    chunk_samples: list[int] = field(default_factory=list)

    def add(self, fragment: Fragment) -> None:
        self.durations += fragment.durations
        self.sizes += fragment.sizes
        self.chunk_samples.append(len(fragment.sizes))

    @property
    def media_bytes(self) -> int:
        return sum(self.sizes)

    @property
    def duration(self) -> int:
        return sum(self.durations)


def _stts(durations: list[int]) -> bytes:
    runs: list[list[int]] = []
    for d in durations:
        if runs and runs[-1][1] == d:
            runs[-1][0] += 1
        else:
            runs.append([1, d])
    return full_box(b"stts", 0, 0, struct.pack(">I", len(runs)),
                    b"".join(struct.pack(">II", n, d) for n, d in runs))


def _stsc(chunk_samples: list[int]) -> bytes:
    entries: list[tuple[int, int]] = []
    for i, n in enumerate(chunk_samples, start=1):
        if not entries or entries[-1][1] != n:
            entries.append((i, n))
    return full_box(b"stsc", 0, 0, struct.pack(">I", len(entries)),
                    b"".join(struct.pack(">III", first, n, 1) for first, n in entries))


def _offsets(table: SampleTable, first: int) -> list[int]:
    out, at, i = [], first, 0
    for n in table.chunk_samples:
        out.append(at)
        at += sum(table.sizes[i:i + n])
        i += n
    return out


def progressive_head(init: bytes, table: SampleTable) -> bytes:
    """ftyp + moov (true duration, full sample table) + the mdat header; the access units,
    in table order, follow it to make the file."""
    moov = child(init, b"moov")
    trak = child(moov, b"trak")
    mdia = child(trak, b"mdia")
    mdhd = child(mdia, b"mdhd")
    timescale = struct.unpack_from(">I", mdhd, 16 if mdhd[0] == 1 else 12)[0]
    stsd = child(mdia, b"minf", b"stbl", b"stsd")
    hdlr = child(mdia, b"hdlr")
    smhd = child(mdia, b"minf", b"smhd")
    dinf = child(mdia, b"minf", b"dinf")
    media_ticks = table.duration
    movie_ticks = media_ticks * MOVIE_TIMESCALE // max(1, timescale)
    large = table.media_bytes + 1024 * 1024 + 16 * len(table.sizes) > CO64_ABOVE

    def build(first_sample_at: int) -> bytes:
        offsets = _offsets(table, first_sample_at)
        if large:
            stco = full_box(b"co64", 0, 0, struct.pack(">I", len(offsets)),
                            b"".join(struct.pack(">Q", o) for o in offsets))
        else:
            stco = full_box(b"stco", 0, 0, struct.pack(">I", len(offsets)),
                            b"".join(struct.pack(">I", o) for o in offsets))
        stsz = full_box(b"stsz", 0, 0, struct.pack(">II", 0, len(table.sizes)),
                        b"".join(struct.pack(">I", s) for s in table.sizes))
        stbl = box(b"stbl", box(b"stsd", stsd), _stts(table.durations),
                   _stsc(table.chunk_samples), stsz, stco)
        mvhd = full_box(b"mvhd", 1, 0, struct.pack(">QQIQ", 0, 0, MOVIE_TIMESCALE, movie_ticks),
                        struct.pack(">IH", 0x00010000, 0x0100), bytes(10),
                        struct.pack(">9I", *UNITY_MATRIX), bytes(24), struct.pack(">I", 2))
        tkhd = full_box(b"tkhd", 1, 0x000003, struct.pack(">QQIIQ", 0, 0, 1, 0, movie_ticks),
                        bytes(8), struct.pack(">hhhH", 0, 0, 0x0100, 0),
                        struct.pack(">9I", *UNITY_MATRIX), struct.pack(">II", 0, 0))
        mdhd_out = full_box(b"mdhd", 1, 0, struct.pack(">QQIQHH", 0, 0, timescale, media_ticks,
                                                        0x55C4, 0))
        minf = box(b"minf", box(b"smhd", smhd), box(b"dinf", dinf), stbl)
        trak_out = box(b"trak", tkhd, box(b"mdia", mdhd_out, box(b"hdlr", hdlr), minf))
        return ftyp + box(b"moov", mvhd, trak_out)

    ftyp = box(b"ftyp", b"M4A ", struct.pack(">I", 0), b"M4A ", b"isom", b"mp42")
    head = build(0)
    mdat_header = (struct.pack(">I4sQ", 1, b"mdat", 16 + table.media_bytes) if large
                   else struct.pack(">I4s", 8 + table.media_bytes, b"mdat"))
    head = build(len(head) + len(mdat_header))
    return head + mdat_header

"""Progressive MP4 from CMAF fragments: true duration, full index, the same access units."""

from __future__ import annotations

import io
import struct

import av

from townhall.media.cmaf import AudioTrack, fragment, init_segment, iter_boxes
from townhall.media.progressive import SampleTable, child, fragments, progressive_head

TRACK = AudioTrack(48000, 1, bytes([0x11, 0x88]), 64000)


def units(n: int, start: int) -> list[bytes]:
    return [bytes([i % 256]) * (20 + i % 7) for i in range(start, start + n)]


def test_the_progressive_file_indexes_every_access_unit_and_states_the_duration() -> None:
    init = init_segment(TRACK)
    frags = [fragment(i + 1, i * 15 * 1024, units(15, i * 15), 1024) for i in range(5)]
    segment = b"".join(frags[:3]), b"".join(frags[3:])
    table = SampleTable()
    for seg in segment:
        for f in fragments(seg):
            table.add(f)
    head = progressive_head(init, table)
    body = b"".join(f.samples(seg) for seg in segment for f in fragments(seg))
    mp4 = head + body
    assert [name for name, _ in iter_boxes(mp4)] == [b"ftyp", b"moov", b"mdat"]
    mdhd = child(mp4, b"moov", b"trak", b"mdia", b"mdhd")
    assert struct.unpack_from(">IQ", mdhd, 20) == (48000, 75 * 1024)
    with av.open(io.BytesIO(mp4)) as c:
        got = [bytes(p) for p in c.demux(audio=0) if p.size]
        assert abs(float(c.duration or 0) / 1e6 - 75 * 1024 / 48000) < 0.01
    assert got == units(75, 0)

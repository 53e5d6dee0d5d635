"""Packager: frames in, parts and segments out; nothing lost, nothing reordered."""

from __future__ import annotations

import functools
import io
import struct
from dataclasses import dataclass, field

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from townhall.live.program.encoder import AacEncoder
from townhall.media.cmaf import AudioTrack, init_segment, iter_boxes
from townhall.media.events import MediaEvent, PartReady, SegmentClosed, SegmentOpened
from townhall.media.packager import Cadence, Packager

RATE = 48000
FRAME = 1024
FRAME_S = FRAME / RATE
TRACK = AudioTrack(sample_rate=RATE, channels=1, audio_specific_config=b"\x11\x88",
                   bitrate=64000)
T0 = 1_700_000_000.0  # frozen wall clock of the first frame


def frames(n: int) -> list[bytes]:
    """Distinct, variable-size fake access units."""
    return [struct.pack(">I", i) * (1 + i % 5) for i in range(n)]


def run(packager: Packager, units: list[bytes], flush: bool = True) -> list[MediaEvent]:
    events: list[MediaEvent] = []
    for i, unit in enumerate(units):
        events += packager.push(unit, T0 + i * FRAME_S)
    if flush:
        events += packager.flush()
    return events


@dataclass
class Seg:
    opened: SegmentOpened
    parts: list[PartReady] = field(default_factory=list)
    closed: SegmentClosed | None = None


def group(events: list[MediaEvent]) -> list[Seg]:
    """Split the event stream into segments, checking the open/part/close grammar."""
    segs: list[Seg] = []
    for ev in events:
        if isinstance(ev, SegmentOpened):
            assert not segs or segs[-1].closed is not None, "segment opened before the last closed"
            segs.append(Seg(ev))
        else:
            assert segs and segs[-1].closed is None, f"{ev} outside an open segment"
            assert ev.msn == segs[-1].opened.msn
            if isinstance(ev, PartReady):
                segs[-1].parts.append(ev)
            else:
                segs[-1].closed = ev
    return segs


def part_fields(data: bytes) -> tuple[int, int, bytes]:
    """(moof sequence number, tfdt, mdat payload) of one CMAF chunk."""
    boxes = dict(iter_boxes(data))
    moof = dict(iter_boxes(boxes[b"moof"]))
    seq = struct.unpack_from(">I", moof[b"mfhd"], 4)[0]
    traf = dict(iter_boxes(moof[b"traf"]))
    tfdt = struct.unpack_from(">Q", traf[b"tfdt"], 4)[0]
    return seq, tfdt, boxes[b"mdat"]


cadences = st.builds(Cadence, part_frames=st.integers(1, 8), parts_per_segment=st.integers(1, 6))


@given(n=st.integers(0, 150), cadence=cadences, first_msn=st.integers(0, 1000),
       first_sequence=st.integers(1, 1000), first_decode_time=st.integers(0, 2**40))
def test_flush_publishes_every_frame_in_order_as_contiguous_parts(
        n: int, cadence: Cadence, first_msn: int, first_sequence: int,
        first_decode_time: int) -> None:
    units = frames(n)
    packager = Packager(TRACK, cadence, first_msn=first_msn, first_sequence=first_sequence,
                        first_decode_time=first_decode_time)
    segs = group(run(packager, units))

    assert [s.opened.msn for s in segs] == list(range(first_msn, first_msn + len(segs)))
    parts = [p for s in segs for p in s.parts]
    for s in segs:
        assert s.closed is not None, "flush leaves no segment open"
        assert [p.index for p in s.parts] == list(range(len(s.parts)))
        assert 1 <= len(s.parts) <= cadence.parts_per_segment
        assert s.closed.data == b"".join(p.data for p in s.parts)
        assert s.closed.duration == pytest.approx(sum(p.duration for p in s.parts))
    # only the last segment and its last part may be short
    for s in segs[:-1]:
        assert len(s.parts) == cadence.parts_per_segment
    for p in parts[:-1]:
        assert p.duration == pytest.approx(cadence.part_frames * FRAME_S)
    assert b"".join(p.data for p in parts) == b"".join(
        s.closed.data for s in segs if s.closed is not None)

    fields = [part_fields(p.data) for p in parts]
    assert [f[0] for f in fields] == list(range(first_sequence, first_sequence + len(parts)))
    assert b"".join(f[2] for f in fields) == b"".join(units)
    frames_before = 0
    for p, (_, tfdt, _) in zip(parts, fields, strict=True):
        assert tfdt == first_decode_time + frames_before * FRAME
        frames_before += round(p.duration / FRAME_S)
    assert frames_before == n
    assert sum(s.closed.duration for s in segs if s.closed) == pytest.approx(n * FRAME_S)
    assert packager.decode_time == first_decode_time + n * FRAME
    assert packager.next_msn == first_msn + len(segs)


@given(n=st.integers(0, 150), cadence=cadences)
def test_without_flush_only_whole_parts_are_published(n: int, cadence: Cadence) -> None:
    units = frames(n)
    segs = group(run(Packager(TRACK, cadence), units, flush=False))
    parts = [p for s in segs for p in s.parts]
    assert len(parts) == n // cadence.part_frames
    assert all(p.duration == pytest.approx(cadence.part_frames * FRAME_S) for p in parts)
    published = b"".join(part_fields(p.data)[2] for p in parts)
    assert published == b"".join(units[:len(parts) * cadence.part_frames])
    # a segment closes in the same push as its last part
    for s in segs:
        assert (s.closed is not None) == (len(s.parts) == cadence.parts_per_segment)


def test_segment_opens_at_its_first_frame_and_carries_that_frame_wall_clock() -> None:
    packager = Packager(TRACK, Cadence(part_frames=2, parts_per_segment=2))
    assert packager.push(b"a", 100.0) == [SegmentOpened(0, 100.0, False)]
    part = packager.push(b"b", 999.0)
    assert len(part) == 1 and isinstance(part[0], PartReady)
    assert (part[0].msn, part[0].index) == (0, 0)
    assert part[0].duration == pytest.approx(2 * FRAME_S)
    assert packager.push(b"c", 555.0) == []
    closing = packager.push(b"d", 556.0)
    assert [type(e) for e in closing] == [PartReady, SegmentClosed]
    assert packager.push(b"e", 777.0)[0] == SegmentOpened(1, 777.0, False)


def test_targets_follow_the_cadence() -> None:
    packager = Packager(TRACK, Cadence(part_frames=15, parts_per_segment=7))
    assert packager.frame_seconds == pytest.approx(1024 / 48000)
    assert packager.part_target == pytest.approx(0.32)
    assert packager.segment_target == pytest.approx(2.24)


def test_flush_with_nothing_buffered_publishes_nothing() -> None:
    packager = Packager(TRACK, Cadence(part_frames=2, parts_per_segment=2))
    assert packager.flush() == []
    run(packager, frames(4), flush=False)  # exactly one full segment, already closed
    assert packager.flush() == []
    packager.push(b"x", T0)
    assert [type(e) for e in packager.flush()] == [PartReady, SegmentClosed]
    assert packager.flush() == []


def test_mark_discontinuity_flags_only_the_next_segment() -> None:
    packager = Packager(TRACK, Cadence(part_frames=1, parts_per_segment=2))
    packager.mark_discontinuity()
    segs = group(run(packager, frames(3)))
    assert [s.opened.discontinuity for s in segs] == [True, False]


def test_discontinuity_after_a_pause_continues_msn_sequence_and_decode_time() -> None:
    packager = Packager(TRACK, Cadence(part_frames=2, parts_per_segment=3))
    before = group(run(packager, frames(5)))  # flush: 2 + 2 + 1 frames in msn 0
    packager.mark_discontinuity()
    after = group(run(packager, frames(2)))
    assert [s.opened.msn for s in before] == [0]
    assert [(s.opened.msn, s.opened.discontinuity) for s in after] == [(1, True)]
    seq, tfdt, _ = part_fields(after[0].parts[0].data)
    assert seq == 4  # three parts before the pause
    assert tfdt == 5 * FRAME


def test_mark_discontinuity_mid_segment_applies_to_the_following_segment() -> None:
    packager = Packager(TRACK, Cadence(part_frames=1, parts_per_segment=2))
    events = packager.push(b"a", T0)
    packager.mark_discontinuity()
    events += packager.push(b"b", T0) + packager.push(b"c", T0)
    assert [e.discontinuity for e in events if isinstance(e, SegmentOpened)] == [False, True]


def test_empty_access_unit_is_refused() -> None:
    with pytest.raises(ValueError):
        Packager(TRACK, Cadence(1, 1)).push(b"", T0)


@pytest.mark.parametrize(("part_frames", "parts"), [(0, 1), (1, 0), (-1, 3)])
def test_cadence_needs_at_least_one_frame_and_one_part(part_frames: int, parts: int) -> None:
    with pytest.raises(ValueError):
        Cadence(part_frames, parts)


# --- PyAV round trip with real AAC ---


@functools.cache
def aac_units(frames_: int = 40) -> tuple[AudioTrack, tuple[bytes, ...]]:
    enc = AacEncoder(RATE, 64000)
    t = np.arange(frames_ * FRAME) / RATE
    pcm = (0.4 * np.sin(2 * np.pi * 660 * t)).astype(np.float32)
    out: list[bytes] = []
    for i in range(frames_):
        out += enc.encode(pcm[i * FRAME:(i + 1) * FRAME])
    return enc.track, tuple(out)


def decoded_samples(blob: bytes) -> int:
    with av.open(io.BytesIO(blob), "r") as container:
        return sum(int(f.samples) for f in container.decode(audio=0))


@settings(max_examples=6, deadline=None)
@given(part_frames=st.integers(1, 6), parts_per_segment=st.integers(1, 4))
def test_segments_and_each_part_decode_with_pyav(part_frames: int,
                                                 parts_per_segment: int) -> None:
    track, units = aac_units()
    segs = group(run(Packager(track, Cadence(part_frames, parts_per_segment)), list(units)))
    init = init_segment(track)
    whole = init + b"".join(s.closed.data for s in segs if s.closed is not None)
    assert decoded_samples(whole) == len(units) * FRAME
    first = segs[0].parts[0]
    assert decoded_samples(init + first.data) == round(first.duration / FRAME_S) * FRAME

"""The replicated program without sockets: entries round-trip, their stream ids follow the
program, and a standby fed a holder's events continues the same segment after take-over."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from townhall.cluster.entries import CLOSED, END, OPENED, PART, Entry, end_entry, entry_of
from townhall.live.program.encoder import FRAME
from townhall.live.program.program import Program
from townhall.media.events import MediaEvent, PartReady, SegmentClosed, SegmentOpened
from townhall.recording.recorder import Recorder
from townhall.settings import Settings
from townhall.store.recording_files import FileRecordings


@given(kind=st.sampled_from([OPENED, PART, CLOSED, END]), msn=st.integers(0, 2**32 - 1),
       index=st.integers(0, 1000), duration=st.floats(0, 100), pdt=st.floats(0, 4e9),
       disc=st.booleans(), decode=st.integers(0, 2**63), data=st.binary(max_size=64),
       sent=st.floats(0, 4e9))
def test_an_entry_round_trips_through_its_bytes(kind: int, msn: int, index: int,
                                                duration: float, pdt: float, disc: bool,
                                                decode: int, data: bytes, sent: float) -> None:
    entry = Entry(kind, msn, index, duration, pdt, disc, decode, data, sent)
    back = Entry.parse(bytes(entry))
    assert (back.kind, back.msn, back.index, back.discontinuity, back.decode_time,
            back.data) == (kind, msn, index, disc, decode, data)
    assert abs(back.duration - duration) <= 1e-6 and abs(back.sent_at - sent) <= 1e-6


def test_stream_ids_grow_in_program_order_and_never_name_zero() -> None:
    events: list[MediaEvent] = []
    for msn in range(3):
        events.append(SegmentOpened(msn, 0.0, False))
        events += [PartReady(msn, i, b"x", 0.32) for i in range(7)]
        events.append(SegmentClosed(msn, 2.24, b"x" * 7))
    ids = [entry_of(ev, 0, 0.0).stream_id for ev in events] + [end_entry(2, 0).stream_id]
    keys = [tuple(int(p) for p in i.split("-")) for i in ids]
    assert keys == sorted(keys) and len(set(keys)) == len(keys) and (0, 0) not in keys


def _program(tmp_path: Path, name: str) -> Program:
    s = Settings.of(data_dir=tmp_path / name)
    return Program(s, Recorder(FileRecordings(tmp_path / name), "sp", s.recording.secret))


def test_a_standby_continues_the_holders_open_segment_where_it_stopped(tmp_path: Path) -> None:
    async def run() -> None:
        holder, standby = _program(tmp_path, "a"), _program(tmp_path, "b")
        standby.following = True
        standby.recorder.start(standby.init)
        tone = np.sin(np.arange(FRAME * 60) * 0.05).astype(np.float32)
        published: list[MediaEvent] = []
        for i in range(60):  # 60 frames: segment 0 (7 parts of 15 frames) is still open
            for au in holder.encoder.encode(tone[i * FRAME:(i + 1) * FRAME]):
                published += holder.packager.push(au, 1000.0)
        parts = [e for e in published if isinstance(e, PartReady)]
        # as the stream carries them: the events, and the decode time where they end
        standby.follow(published, round(sum(p.duration for p in parts) * 48000))
        assert standby.window.next_part() == (0, len(parts))
        assert standby.take_over(late_s=0.0) == []
        assert not standby.following
        assert standby.packager.next_msn == 0  # the same segment goes on
        assert standby.packager.decode_time == round(sum(p.duration for p in parts) * 48000)
        later: list[MediaEvent] = []
        for _ in range(120):
            for au in standby.encoder.encode(tone[:FRAME]):
                later += standby.packager.push(au, 1001.0)
        nxt = [e for e in later if isinstance(e, PartReady)]
        assert (nxt[0].msn, nxt[0].index) == (0, len(parts))  # the next part, no new segment
        closed = next(e for e in later if isinstance(e, SegmentClosed))
        assert closed.msn == 0 and closed.data.startswith(b"".join(p.data for p in parts))
        assert not any(isinstance(e, SegmentOpened) and e.msn == 0 for e in later)

    asyncio.run(run())

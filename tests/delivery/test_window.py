"""The live window: what is published, what is evicted, and the playlist it renders."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.delivery.window import LiveWindow
from townhall.media.cmaf import AudioTrack
from townhall.media.events import MediaEvent, PartReady, SegmentClosed, SegmentOpened
from townhall.media.packager import Cadence, Packager

FRAME_S = 1024 / 48000
TRACK = AudioTrack(sample_rate=48000, channels=1, audio_specific_config=b"\x11\x88",
                   bitrate=64000)
T0 = 1_700_000_000.0


def window_for(packager: Packager, keep: int = 8) -> LiveWindow:
    return LiveWindow(init=b"init", segment_target=packager.segment_target,
                      part_target=packager.part_target,
                      parts_per_segment=packager.cadence.parts_per_segment, keep_segments=keep)


def events(packager: Packager, n: int, start: int = 0) -> list[MediaEvent]:
    out: list[MediaEvent] = []
    for i in range(start, start + n):
        out += packager.push(i.to_bytes(4, "big"), T0 + i * FRAME_S)
    return out


def hint(text: str) -> tuple[int, int] | None:
    m = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part/(\d+)\.(\d+)\.m4s', text)
    return (int(m[1]), int(m[2])) if m else None


def listed_segments(text: str) -> list[int]:
    return [int(line[4:].split(".")[0]) for line in text.splitlines() if line.startswith("seg/")]


def discontinuity_numbers(text: str) -> dict[int, int]:
    """Discontinuity sequence number of each listed segment (rfc8216bis §4.4.3.3)."""
    seq, out = 0, {}
    for line in text.splitlines():
        if line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            seq = int(line.partition(":")[2])
        elif line == "#EXT-X-DISCONTINUITY":
            seq += 1
        elif line.startswith("seg/"):
            out[int(line[4:].split(".")[0])] = seq
    return out


@given(n=st.integers(0, 200), part_frames=st.integers(1, 5), pps=st.integers(1, 5),
       keep=st.integers(3, 6))
def test_window_serves_what_was_published_and_keeps_only_the_newest_segments(
        n: int, part_frames: int, pps: int, keep: int) -> None:
    packager = Packager(TRACK, Cadence(part_frames, pps))
    window = window_for(packager, keep)
    parts: dict[tuple[int, int], bytes] = {}
    closed: dict[int, bytes] = {}
    for ev in events(packager, n):
        version = window.version
        window.apply(ev)
        assert window.version == version + 1
        if isinstance(ev, PartReady):
            parts[(ev.msn, ev.index)] = ev.data
        elif isinstance(ev, SegmentClosed):
            closed[ev.msn] = ev.data
        complete = [m for m, s in window.segments.items() if s.complete]
        kept = sorted(closed)[-keep:]
        assert complete == kept
        for msn, data in closed.items():
            assert window.segment(msn) == (data if msn in kept else None)
        for (msn, i), data in parts.items():
            expected = data if msn in window.segments else None
            assert window.part(msn, i) == expected
            assert window.has_part(msn, i) == (expected is not None)
        assert window.last_complete_msn == (max(closed) if closed else -1)
        text = window.render()
        assert listed_segments(text) == kept
        assert hint(text) == window.next_part()
    published = max(parts, default=None)
    expected_next = (0, 0) if published is None else (
        (published[0] + 1, 0) if published[0] in closed else (published[0], published[1] + 1))
    assert window.next_part() == expected_next


def test_part_hold_back_is_at_least_twice_the_part_target() -> None:
    packager = Packager(TRACK, Cadence(15, 7))
    window = window_for(packager)
    for ev in events(packager, 30):
        window.apply(ev)
    text = window.render()
    target = float(re.search(r"PART-TARGET=([\d.]+)", text)[1])  # type: ignore[index]
    hold_back = float(re.search(r"PART-HOLD-BACK=([\d.]+)", text)[1])  # type: ignore[index]
    assert target == pytest.approx(0.32)
    assert hold_back >= 2 * target
    assert "CAN-BLOCK-RELOAD=YES" in text


def test_empty_window_hints_the_first_part_of_segment_zero() -> None:
    window = window_for(Packager(TRACK, Cadence(2, 2)))
    assert window.next_part() == (0, 0)
    assert window.last_complete_msn == -1
    assert window.part(0, 0) is None and window.segment(0) is None


def test_part_published_out_of_order_is_refused() -> None:
    window = window_for(Packager(TRACK, Cadence(2, 3)))
    window.apply(SegmentOpened(0, T0, False))
    with pytest.raises(ValueError, match="out of order"):
        window.apply(PartReady(0, 1, b"x", 0.1))
    window.apply(PartReady(0, 0, b"x", 0.1))
    with pytest.raises(ValueError, match="out of order"):
        window.apply(PartReady(0, 0, b"x", 0.1))


def test_window_must_keep_at_least_three_segments() -> None:
    with pytest.raises(ValueError):
        LiveWindow(init=b"", segment_target=2.0, part_target=0.5, parts_per_segment=4,
                   keep_segments=2)


def test_end_drops_the_unfinished_segment_and_closes_the_playlist() -> None:
    packager = Packager(TRACK, Cadence(2, 2))
    window = window_for(packager)
    for ev in events(packager, 10):  # segments 0 and 1 complete, 2 has one part
        window.apply(ev)
    assert window.next_part() == (2, 1)
    version = window.version
    window.end()
    assert window.ended and window.version == version + 1
    text = window.render()
    assert listed_segments(text) == [0, 1]
    assert "#EXT-X-ENDLIST" in text.splitlines()
    assert hint(text) is None
    assert "#EXT-X-PART" not in text
    assert window.part(2, 0) is not None  # already fetched parts stay fetchable


def test_nothing_is_published_after_the_end() -> None:
    packager = Packager(TRACK, Cadence(1, 1))
    window = window_for(packager)
    window.end()
    with pytest.raises(ValueError):
        window.apply(SegmentOpened(0, T0, False))


def test_query_reaches_every_uri_of_the_window_playlist() -> None:
    packager = Packager(TRACK, Cadence(2, 2))
    window = window_for(packager)
    for ev in events(packager, 5):
        window.apply(ev)
    text = window.render("?t=k")
    uris = re.findall(r'URI="([^"]*)"', text) + [
        line for line in text.splitlines() if line and not line.startswith("#")]
    assert uris and all(u.endswith("?t=k") for u in uris)


def test_discontinuity_after_a_pause_is_tagged_in_the_window_playlist() -> None:
    packager = Packager(TRACK, Cadence(2, 2))
    window = window_for(packager)
    for ev in events(packager, 4) + packager.flush():
        window.apply(ev)
    packager.mark_discontinuity()
    for ev in events(packager, 4, start=4):
        window.apply(ev)
    lines = window.render().splitlines()
    i = lines.index("#EXT-X-DISCONTINUITY")
    assert lines[i + 1].startswith("#EXT-X-PROGRAM-DATE-TIME:")
    assert next(x for x in lines[i:] if x.startswith("seg/")) == "seg/1.m4s"


@given(breaks=st.lists(st.booleans(), min_size=12, max_size=20))
def test_discontinuity_sequence_number_of_a_segment_never_changes(breaks: list[bool]) -> None:
    window = LiveWindow(init=b"", segment_target=1.0, part_target=1.0, parts_per_segment=1,
                        keep_segments=3)
    seen: dict[int, int] = {}
    for msn, brk in enumerate(breaks):
        window.apply(SegmentOpened(msn, T0 + msn, brk and msn > 0))
        window.apply(PartReady(msn, 0, b"x", 1.0))
        window.apply(SegmentClosed(msn, 1.0, b"x"))
        for m, number in discontinuity_numbers(window.render()).items():
            assert seen.setdefault(m, number) == number, f"segment {m} moved"

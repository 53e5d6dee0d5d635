"""What the simulated player reads from townhall's own playlists, and the media timeline."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.loadtest.playlist import MediaTimeline, parse_media
from townhall.media.playlist import LowLatency, PlaylistSegment, render_media

T0 = 1_700_000_000.0
PART = 0.32
PPS = 7
SEG = PART * PPS
LL = LowLatency(part_target=PART, part_hold_back=3 * PART, parts_window=3 * SEG)


def window(first: int, done: int, in_progress: int | None, *, ended: bool = False,
           low_latency: LowLatency | None = LL) -> str:
    """townhall's renderer: `done` complete segments from `first`, one more in progress."""
    segs = [PlaylistSegment(m, T0 + m * SEG, False, [PART] * PPS, SEG)
            for m in range(first, first + done)]
    if in_progress is not None:
        m = first + done
        segs.append(PlaylistSegment(m, T0 + m * SEG, False, [PART] * in_progress))
    return render_media(segs, segment_target=SEG, discontinuity_sequence=0, ended=ended,
                        low_latency=low_latency)


def test_a_live_ll_playlist_gives_the_player_everything_it_needs() -> None:
    pl = parse_media(window(5, 6, 3))
    assert pl.low_latency and pl.can_block_reload
    assert (pl.target_duration, pl.part_target, pl.part_hold_back) == (2, PART, 3 * PART)
    assert pl.media_sequence == 5
    assert [s.msn for s in pl.segments] == list(range(5, 12))
    assert [s.msn for s in pl.complete_segments] == list(range(5, 11))
    assert pl.segments[-1].duration is None and pl.segments[-1].uri is None
    assert pl.segments[0].pdt == pytest.approx(T0 + 5 * SEG, abs=1e-3)
    assert pl.segments[0].uri == "seg/5.m4s" and pl.segments[0].duration == pytest.approx(SEG)
    last = pl.parts[-1]
    assert (last.msn, last.index, last.uri) == (11, 2, "part/11.2.m4s")
    assert pl.hint is not None and (pl.hint.msn, pl.hint.index) == (11, 3)
    assert not pl.ended


@given(done=st.integers(1, 8), in_progress=st.one_of(st.none(), st.integers(1, PPS - 1)))
def test_every_part_is_placed_by_position_and_the_hint_is_the_next_one(
        done: int, in_progress: int | None) -> None:
    pl = parse_media(window(0, done, in_progress))
    for part in pl.parts:
        assert part.uri == f"part/{part.msn}.{part.index}.m4s"
        assert part.duration == pytest.approx(PART)
    nxt = (done, in_progress) if in_progress else (done, 0)
    assert pl.hint is not None and (pl.hint.msn, pl.hint.index) == nxt
    assert pl.hint.uri == f"part/{nxt[0]}.{nxt[1]}.m4s"


def test_an_ended_playlist_has_no_parts_hint_or_low_latency() -> None:
    pl = parse_media(window(0, 4, None, ended=True))
    assert pl.ended and pl.hint is None and not pl.low_latency and pl.parts == []
    assert len(pl.complete_segments) == 4


def test_a_plain_playlist_lists_whole_segments_only() -> None:
    pl = parse_media(window(0, 4, 2, low_latency=None))
    assert not pl.low_latency and pl.parts == [] and pl.hint is None
    assert [s.uri for s in pl.segments] == [f"seg/{m}.m4s" for m in range(4)]


def test_what_is_not_a_media_playlist_is_refused() -> None:
    with pytest.raises(ValueError, match="EXTM3U"):
        parse_media('{"error": "not_found"}')
    with pytest.raises(ValueError, match="EXTINF"):
        parse_media("#EXTM3U\nseg/1.m4s\n")


def test_the_same_text_is_parsed_once_for_everyone() -> None:
    text = window(3, 4, 1)
    assert parse_media(text) is parse_media("" + text)


@given(stops=st.lists(st.integers(0, 7 * 30), min_size=1, max_size=15, unique=True))
def test_offsets_stay_continuous_while_the_window_slides(stops: list[int]) -> None:
    """Whenever the player reloads (after `published` parts), each part's media offset is
    its distance from the first segment the player ever saw, whatever has been evicted."""
    timeline = MediaTimeline()
    first_seen: int | None = None
    for published in sorted(stops):
        done, in_progress = divmod(published, PPS)
        first = max(0, done - 4)  # the window keeps four complete segments
        if done - first == 0 and not in_progress:
            continue
        pl = parse_media(window(first, done - first, in_progress or None))
        timeline.update(pl)
        if first_seen is None:
            first_seen = first
        for part in pl.parts:
            span = timeline.part(pl, part)
            assert span is not None
            expected = ((part.msn - first_seen) * PPS + part.index) * PART
            assert span.offset == pytest.approx(expected, abs=1e-6)
            assert span.pdt == pytest.approx(T0 + part.msn * SEG + part.index * PART, abs=1e-3)
        for seg in pl.complete_segments:
            span = timeline.segment(seg.msn)
            assert span is not None and span.duration == pytest.approx(SEG)


def test_a_segment_after_a_hole_is_placed_by_its_program_date_time() -> None:
    timeline = MediaTimeline()
    timeline.update(parse_media(window(0, 3, None)))
    timeline.update(parse_media(window(10, 3, None)))  # the player fell far behind
    span = timeline.segment(10)
    assert span is not None and span.offset == pytest.approx(10 * SEG, abs=1e-3)

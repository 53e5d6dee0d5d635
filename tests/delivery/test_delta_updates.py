"""Playlist delta updates (rfc8216bis §6.2.5.1): what the window skips, and that a player
merging a delta into the playlist it holds gets exactly the full playlist."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from townhall.delivery.window import LiveWindow
from townhall.loadtest.delta import DeltaMismatch, merge_delta
from townhall.loadtest.playlist import MediaPlaylist, parse_media
from townhall.media.events import PartReady, SegmentClosed, SegmentOpened
from townhall.media.playlist import skip_until

PART = 0.32
PPS = 7
SEG = PART * PPS
T0 = 1_700_000_000.0


def new_window(keep: int) -> LiveWindow:
    return LiveWindow(init=b"init", segment_target=SEG, part_target=PART,
                      parts_per_segment=PPS, keep_segments=keep)


def publish(window: LiveWindow, n_parts: int, start: int, breaks: set[int]) -> None:
    """Publish parts number start..start+n_parts-1 of a 0.32 s cadence (7 to a segment);
    a segment whose number is in `breaks` starts after a discontinuity."""
    for k in range(start, start + n_parts):
        msn, index = divmod(k, PPS)
        if index == 0:
            window.apply(SegmentOpened(msn, T0 + k * PART, msn in breaks))
        window.apply(PartReady(msn, index, k.to_bytes(4, "big"), PART))
        if index == PPS - 1:
            window.apply(SegmentClosed(msn, SEG, b"seg"))


def shape(pl: MediaPlaylist) -> list[tuple[object, ...]]:
    return [(s.msn, s.pdt, s.duration, s.uri, s.discontinuity, [(p.msn, p.index, p.uri)
             for p in s.parts]) for s in pl.segments]


@settings(max_examples=150, deadline=None)
@given(keep=st.integers(3, 12), first=st.integers(1, 120), later=st.integers(0, 40),
       breaks=st.sets(st.integers(0, 25), max_size=4))
def test_a_delta_merged_into_the_previous_playlist_is_the_full_playlist(
        keep: int, first: int, later: int, breaks: set[int]) -> None:
    window = new_window(keep)
    publish(window, first, 0, breaks)
    previous = parse_media(window.render())
    publish(window, later, first, breaks)
    full, delta = parse_media(window.render()), parse_media(window.render(delta=True))
    assert delta.can_skip_until == skip_until(SEG) == full.can_skip_until
    try:
        merged = merge_delta(previous, delta)
    except DeltaMismatch:
        held = {s.msn for s in previous.complete_segments}
        skipped = range(delta.media_sequence, delta.media_sequence + delta.skipped)
        assert not set(skipped) <= held  # refused only when something really is missing
        return
    assert merged.media_sequence == full.media_sequence
    assert shape(merged) == shape(full)
    assert (merged.hint, merged.part_hold_back, merged.ended) == \
        (full.hint, full.part_hold_back, full.ended)


@given(keep=st.integers(3, 12), n=st.integers(1, 150))
def test_a_delta_skips_only_segments_older_than_the_skip_boundary(keep: int, n: int) -> None:
    window = new_window(keep)
    publish(window, n, 0, set())
    delta = window.render(delta=True)
    full = parse_media(window.render())
    total = sum(s.media_duration or 0 for s in full.segments)
    m = re.search(r"#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)", delta)
    skipped = int(m[1]) if m else 0
    kept = sum(s.media_duration or 0 for s in full.segments[skipped:])
    assert kept >= skip_until(SEG) or skipped == 0
    assert ("#EXT-X-VERSION:9" in delta) == bool(skipped)
    if total - SEG >= skip_until(SEG) + SEG:  # long enough: a delta really is leaner
        assert skipped > 0 and len(delta) < len(window.render())


def test_an_ended_playlist_is_never_a_delta() -> None:
    window = new_window(8)
    publish(window, 80, 0, set())
    window.end()
    text = window.render(delta=True)
    assert "EXT-X-SKIP" not in text and "CAN-SKIP-UNTIL" not in text
    assert text.rstrip().endswith("#EXT-X-ENDLIST")


def test_playlists_are_compressed_once_per_publication() -> None:
    import gzip

    window = new_window(8)
    publish(window, 40, 0, set())
    body = window.render_bytes(gzipped=True)
    assert window.render_bytes(gzipped=True) is body  # the same bytes object: no recompress
    assert gzip.decompress(body) == window.render_bytes()
    assert len(body) * 3 < len(window.render_bytes())
    publish(window, 1, 40, set())
    assert window.render_bytes(gzipped=True) is not body


@given(n=st.integers(PPS, 200))
def test_parts_are_listed_for_a_whole_segment_back_and_no_further_than_two(n: int) -> None:
    # a joining hls.js starts within the listed parts (one segment plus the hold-back was
    # too short: it joined a whole segment back); three target durations cost ~20 gzipped
    # bytes more on every reload
    window = new_window(8)
    publish(window, n, 0, set())
    pl = parse_media(window.render())
    listed = [s for s in pl.segments if s.parts]
    covered = sum(p.duration for s in listed for p in s.parts)
    assert covered >= SEG - 1e-6
    end = sum(s.media_duration or 0 for s in pl.segments)
    start_of_first = end - sum(s.media_duration or 0 for s in listed)
    assert end - start_of_first <= 2 * SEG + 1e-6  # starts within two segments of the end

"""Blocking playlist reload and part requests (rfc8216bis §6.2.5.2, §6.2.6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.delivery.blocking import (
    MSN_DIGITS,
    PART_DIGITS,
    BadBlockingRequest,
    Position,
    Verdict,
    directive_query,
    parse_directives,
    part_verdict,
    playlist_verdict,
)
from townhall.delivery.window import LiveWindow
from townhall.media.cmaf import AudioTrack
from townhall.media.events import PartReady
from townhall.media.packager import Cadence, Packager

PPS = 4
TRACK = AudioTrack(sample_rate=48000, channels=1, audio_specific_config=b"\x11\x88",
                   bitrate=64000)


def pos(last: int, next_part: tuple[int, int] | None = None, ended: bool = False) -> Position:
    """A window whose last complete segment is `last`; by default nothing of last+1 yet."""
    return Position(last, next_part or (last + 1, 0), PPS, ended)


@st.composite
def positions(draw: st.DrawFn) -> Position:
    """Positions a live window can be in: the next part is in the segment after the last."""
    last = draw(st.integers(-1, 50))
    return Position(last, (last + 1, draw(st.integers(0, PPS - 1))), PPS, False)


# --- parse_directives ---


def test_no_directives_is_a_plain_reload() -> None:
    assert parse_directives(None, None) == (None, None)


@given(msn=st.integers(0, 10**MSN_DIGITS - 1),
       part=st.one_of(st.none(), st.integers(0, 10**PART_DIGITS - 1)))
def test_directives_parse_as_non_negative_integers(msn: int, part: int | None) -> None:
    assert parse_directives(str(msn), None if part is None else str(part)) == (msn, part)


def test_part_without_msn_is_a_bad_request() -> None:
    with pytest.raises(BadBlockingRequest, match="_HLS_msn"):
        parse_directives(None, "0")


@pytest.mark.parametrize(("msn", "part"), [
    ("-1", None), ("3", "-1"), ("abc", None), ("1.5", None), ("", None), ("3", "x"),
    ("3", ""), ("0x10", None), ("1e3", None)])
def test_negative_or_non_integer_directives_are_bad_requests(msn: str, part: str | None) -> None:
    with pytest.raises(BadBlockingRequest):
        parse_directives(msn, part)


@given(n=st.integers(0, 10**6), spelling=st.sampled_from(
    ["0{}", "00{}", "+{}", " {}", "{} ", "{}.0", "{}\t", "\u0660{}", "{}e0", "-0{}"]))
def test_any_other_spelling_of_a_number_is_refused(n: int, spelling: str) -> None:
    # canonical before keyed: `7` has one spelling; int() would read all of these as 7
    with pytest.raises(BadBlockingRequest, match="leading zeros"):
        parse_directives(spelling.format(n), None)
    with pytest.raises(BadBlockingRequest, match="leading zeros"):
        parse_directives("1", spelling.format(n))


def test_overlong_numbers_are_refused() -> None:
    with pytest.raises(BadBlockingRequest):
        parse_directives("1" * (MSN_DIGITS + 1), None)
    with pytest.raises(BadBlockingRequest):
        parse_directives("1", "1" * (PART_DIGITS + 1))


def test_the_directives_are_read_from_the_raw_query_in_their_one_spelling() -> None:
    assert directive_query("_HLS_msn=7&_HLS_part=0&_HLS_skip=YES&sid=x&cb=1") == {
        "_HLS_msn": "7", "_HLS_part": "0", "_HLS_skip": "YES"}
    assert directive_query("") == {} and directive_query("hls=1&x") == {}


@pytest.mark.parametrize("query", [
    "_HLS_msn=7&_HLS_msn=7", "_HLS_msn=7&_HLS_msn=8", "_hls_msn=7", "_HLS_MSN=7",
    "%5FHLS_msn=7", "_HLS_m%73n=7", "_HLS_msn=%37", "_HLS_msn=007", "_HLS_msn=+7",
    "_HLS_msn=7+", "_HLS_msn", "_HLS_msn=", "_HLS_skip=yes", "_HLS_skip=YES&_HLS_skip=v2",
    "_HLS_msn=7&_HLS_part=01", "_HLS_foo=1"])
def test_a_directive_spelled_any_other_way_is_refused(query: str) -> None:
    with pytest.raises(BadBlockingRequest):
        directive_query(query)


def test_bad_blocking_request_is_a_value_error() -> None:
    assert issubclass(BadBlockingRequest, ValueError)


# --- playlist_verdict ---


def test_msn_more_than_two_segments_ahead_is_refused() -> None:
    assert playlist_verdict(pos(10), 13, None) is Verdict.TOO_FAR
    assert playlist_verdict(pos(10), 12, None) is Verdict.WAIT


def test_part_requested_more_than_two_segments_ahead_is_refused() -> None:
    assert playlist_verdict(pos(10, (11, 2)), 13, 0) is Verdict.TOO_FAR
    assert playlist_verdict(pos(10, (11, 2)), 12, PPS - 1) is Verdict.WAIT


def test_nothing_complete_yet_allows_waiting_for_the_first_two_segments() -> None:
    assert playlist_verdict(pos(-1, (0, 0)), 0, None) is Verdict.WAIT
    assert playlist_verdict(pos(-1, (0, 0)), 1, 0) is Verdict.WAIT
    assert playlist_verdict(pos(-1, (0, 0)), 2, None) is Verdict.TOO_FAR


@given(p=positions(), msn=st.integers(0, 60))
def test_msn_only_request_is_ready_once_that_segment_is_complete(p: Position, msn: int) -> None:
    verdict = playlist_verdict(p, msn, None)
    if msn > p.last_complete_msn + 2:
        assert verdict is Verdict.TOO_FAR
    elif msn <= p.last_complete_msn:
        assert verdict is Verdict.READY
    else:
        assert verdict is Verdict.WAIT


@given(p=positions(), msn=st.integers(0, 60), part=st.integers(0, PPS - 1))
def test_part_request_is_ready_once_that_part_is_published(p: Position, msn: int,
                                                           part: int) -> None:
    verdict = playlist_verdict(p, msn, part)
    if msn > p.last_complete_msn + 2:
        assert verdict is Verdict.TOO_FAR
    elif (msn, part) < p.next_part:
        assert verdict is Verdict.READY
    else:
        assert verdict is Verdict.WAIT


@given(p=positions(), msn=st.integers(0, 60), part=st.integers(PPS, 100))
def test_part_past_the_end_of_a_segment_means_the_next_segment(p: Position, msn: int,
                                                               part: int) -> None:
    assert playlist_verdict(p, msn, part) is playlist_verdict(p, msn + 1, 0)


@given(p=positions(), msn=st.integers(0, 10**6), part=st.one_of(st.none(), st.integers(0, 99)))
def test_ended_playlist_answers_every_blocking_request_at_once(p: Position, msn: int,
                                                               part: int | None) -> None:
    ended = Position(p.last_complete_msn, p.next_part, p.parts_per_segment, True)
    assert playlist_verdict(ended, msn, part) is Verdict.READY


# --- part_verdict ---


def test_published_part_is_served_even_after_the_end() -> None:
    assert part_verdict(pos(5), 3, 1, available=True) is Verdict.READY
    assert part_verdict(pos(5, ended=True), 3, 1, available=True) is Verdict.READY


def test_unpublished_part_after_the_end_is_gone() -> None:
    assert part_verdict(pos(5, (6, 0), ended=True), 6, 0, available=False) is Verdict.GONE


@pytest.mark.parametrize(("next_part", "wanted"), [
    ((6, 2), (6, 2)),  # the preload hint
    ((6, 2), (6, 3)),  # one part past the hint
    ((6, 2), (7, 0)),  # the first part of the next segment
    ((6, 0), (6, 1)),
    ((6, 3), (7, 0)),
])
def test_hinted_and_next_parts_are_held(next_part: tuple[int, int],
                                        wanted: tuple[int, int]) -> None:
    assert part_verdict(pos(5, next_part), *wanted, available=False) is Verdict.WAIT


@pytest.mark.parametrize(("next_part", "wanted"), [
    ((6, 1), (6, 3)),  # two parts past the hint
    ((6, 2), (7, 1)),
    ((6, 2), (8, 0)),
    ((6, 3), (6, 4)),  # index past the last part of a segment
    ((6, 2), (2, 0)),  # evicted
    ((6, 2), (6, 1)),  # behind the hint but not available
    ((6, 2), (6, -1)),
])
def test_parts_far_from_the_hint_are_gone(next_part: tuple[int, int],
                                          wanted: tuple[int, int]) -> None:
    assert part_verdict(pos(5, next_part), *wanted, available=False) is Verdict.GONE


@given(p=positions(), msn=st.integers(-2, 60), index=st.integers(-2, 10))
def test_only_the_hinted_part_and_the_one_after_it_are_held(p: Position, msn: int,
                                                            index: int) -> None:
    nmsn, nidx = p.next_part
    after = (nmsn, nidx + 1) if nidx + 1 < p.parts_per_segment else (nmsn + 1, 0)
    held = {(nmsn, nidx), after, (nmsn + 1, 0)}
    assert part_verdict(p, msn, index, available=True) is Verdict.READY
    expected = Verdict.WAIT if (msn, index) in held else Verdict.GONE
    assert part_verdict(p, msn, index, available=False) is expected


# --- with a real window ---


@given(n=st.integers(1, 80), part_frames=st.integers(1, 4), pps=st.integers(1, 5))
def test_blocked_request_becomes_ready_exactly_when_its_part_is_published(
        n: int, part_frames: int, pps: int) -> None:
    packager = Packager(TRACK, Cadence(part_frames, pps))
    window = LiveWindow(init=b"", segment_target=packager.segment_target,
                        part_target=packager.part_target, parts_per_segment=pps)

    def position() -> Position:
        return Position(window.last_complete_msn, window.next_part(), pps, window.ended)

    for i in range(n):
        for ev in packager.push(i.to_bytes(2, "big"), float(i)):
            if isinstance(ev, PartReady):
                assert window.next_part() == (ev.msn, ev.index)
                assert playlist_verdict(position(), ev.msn, ev.index) is Verdict.WAIT
                assert part_verdict(position(), ev.msn, ev.index,
                                    window.has_part(ev.msn, ev.index)) is Verdict.WAIT
            window.apply(ev)
            if isinstance(ev, PartReady):
                assert playlist_verdict(position(), ev.msn, ev.index) is Verdict.READY
                assert part_verdict(position(), ev.msn, ev.index,
                                    window.has_part(ev.msn, ev.index)) is Verdict.READY

"""WebVTT segments and the subtitles playlist: text in the shape players read (sans-IO)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.captions.webvtt import (
    Cue,
    SubtitleSegment,
    format_time,
    parse_segment,
    parse_time,
    render_playlist,
    render_segment,
    subtitles_rendition,
)
from townhall.media.playlist import render_multivariant


def test_a_segment_maps_local_zero_to_its_audio_start_in_90khz() -> None:
    text = render_segment([Cue(10.5, 11.25, "hello there")], 10.0, 12.24)
    assert text.splitlines()[:4] == [
        "WEBVTT", "X-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000", "",
        "00:00:00.500 --> 00:00:01.250"]
    assert "hello there" in text


def test_a_cue_spanning_two_segments_is_in_both_cut_to_each() -> None:
    cue = Cue(1.5, 3.0, "across the boundary")
    first, second = render_segment([cue], 0.0, 2.0), render_segment([cue], 2.0, 4.0)
    assert "00:00:01.500 --> 00:00:02.000" in first
    assert "00:00:00.000 --> 00:00:01.000" in second
    assert parse_segment(second)[1] == [Cue(2.0, 3.0, "across the boundary")]


def test_cues_outside_the_segment_are_left_out() -> None:
    text = render_segment([Cue(0.0, 1.0, "before"), Cue(5.0, 6.0, "after")], 2.0, 4.0)
    assert parse_segment(text) == (2.0, [])


def test_markup_in_recognised_text_is_escaped_not_interpreted() -> None:
    text = render_segment([Cue(0.0, 1.0, "<b>a & b</b>")], 0.0, 2.0)
    assert "&lt;b&gt;a &amp; b&lt;/b&gt;" in text
    assert parse_segment(text)[1][0].text == "<b>a & b</b>"


@pytest.mark.parametrize(("start", "end", "text"), [
    (2.0, 1.0, "backwards"), (-1.0, 1.0, "negative"), (0.0, 1.0, "a --> b"),
    (0.0, 1.0, "two\n\nparagraphs")])
def test_a_cue_that_webvtt_cannot_carry_is_refused(start: float, end: float,
                                                   text: str) -> None:
    with pytest.raises(ValueError):
        Cue(start, end, text)


@given(st.integers(min_value=0, max_value=99 * 3_600_000))
def test_timestamps_round_trip_to_the_millisecond(ms: int) -> None:
    assert round(parse_time(format_time(ms / 1000)) * 1000) == ms


@given(st.lists(st.tuples(st.integers(0, 20_000), st.integers(1, 5_000),
                          st.text("abc xyz", min_size=1, max_size=20).map(str.strip)
                          .filter(bool)), max_size=8))
def test_a_rendered_segment_parses_back_to_its_cues_cut_to_it(
        raw: list[tuple[int, int, str]]) -> None:
    cues = [Cue(a / 1000, (a + d) / 1000, t) for a, d, t in raw]
    start, end = 5.0, 7.24
    _, parsed = parse_segment(render_segment(cues, start, end))
    expected = sorted((max(c.start, start), min(c.end, end), c.text) for c in cues
                       if min(c.end, end) - max(c.start, start) >= 0.001)
    got = sorted((c.start, c.end, c.text) for c in parsed)
    assert len(got) == len(expected)
    for (a1, b1, t1), (a2, b2, t2) in zip(got, expected, strict=True):
        assert abs(a1 - a2) < 0.002 and abs(b1 - b2) < 0.002 and t1 == t2


def test_the_playlist_lists_whole_segments_with_the_audio_numbers_and_dates() -> None:
    segs = [SubtitleSegment(7, 15.68, 2.24, 1_700_000_000.0, False),
            SubtitleSegment(8, 17.92, 2.24, 1_700_000_002.24, True)]
    text = render_playlist(segs, segment_target=2.24, discontinuity_sequence=1, ended=False,
                           query="?x=1")
    assert text.splitlines() == [
        "#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:7",
        "#EXT-X-DISCONTINUITY-SEQUENCE:1",
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z", "#EXTINF:2.24,", "vtt/7.vtt?x=1",
        "#EXT-X-DISCONTINUITY", "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:22.240Z",
        "#EXTINF:2.24,", "vtt/8.vtt?x=1"]
    assert render_playlist([], segment_target=2.24, discontinuity_sequence=0,
                           ended=True).endswith("#EXT-X-ENDLIST\n")


def test_the_master_playlist_names_the_subtitles_group_on_the_variant() -> None:
    text = render_multivariant(media_uri="media.m3u8", bandwidth=70400, codecs="mp4a.40.2",
                               subtitles=subtitles_rendition("subs.m3u8", "en"))
    lines = text.splitlines()
    assert ('#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Captions",LANGUAGE="en",'
            'DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="subs.m3u8"') in lines
    assert '#EXT-X-STREAM-INF:BANDWIDTH=70400,CODECS="mp4a.40.2",SUBTITLES="subs"' in lines
    plain = render_multivariant(media_uri="media.m3u8", bandwidth=70400, codecs="mp4a.40.2")
    assert "SUBTITLES" not in plain

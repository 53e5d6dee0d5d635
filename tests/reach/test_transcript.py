"""The replay's transcript from the live captions' segments (reach/transcript.py): cue times
move from each segment's own clock to the replay's, a cue cut at a boundary is one cue again,
segments the replay lacks give nothing, and the file is WebVTT a parser reads back."""

from __future__ import annotations

from townhall.captions.webvtt import Cue, parse_segment, render_segment
from townhall.reach.transcript import render, replay_cues
from townhall.recording.manifest import RecordingManifest

DURATION = 2.24


def _manifest(first_msn: int, count: int) -> RecordingManifest:
    m = RecordingManifest("abcdefghij", "00" * 32)
    for msn in range(first_msn, first_msn + count):
        m.append(msn, bytes([msn % 256]) * 10, DURATION, 1_700_000_000.0 + msn, False)
    return m


def test_cues_land_on_the_replay_timeline_and_a_cut_cue_is_joined() -> None:
    # the program's decode clock started long before the recording's first segment (a
    # standby's replay, a late start): decode time 1000 s is replay time 0
    decode0 = 1000.0
    cues = [Cue(decode0 + 0.5, decode0 + 1.5, "Hello & welcome"),
            Cue(decode0 + 2.0, decode0 + 3.0, "across the boundary"),  # cut at 2.24
            Cue(decode0 + 5.0, decode0 + 5.5, "in a segment the replay lacks")]
    segments = [(msn, render_segment(cues, decode0 + (msn - 7) * DURATION,
                                     decode0 + (msn - 6) * DURATION)) for msn in (7, 8, 9)]
    got = replay_cues(segments, _manifest(7, 2))  # the replay holds 7 and 8
    assert [(round(c.start, 3), round(c.end, 3), c.text) for c in got] == [
        (0.5, 1.5, "Hello & welcome"), (2.0, 3.0, "across the boundary")]
    text = render(got)
    assert text.startswith("WEBVTT\n\n1\n00:00:00.500 --> 00:00:01.500\nHello &amp; welcome")
    assert "X-TIMESTAMP-MAP" not in text
    _start, back = parse_segment(text)
    assert [c.text for c in back] == ["Hello & welcome", "across the boundary"]


def test_nothing_to_lay_gives_an_empty_transcript() -> None:
    assert replay_cues([(3, "not webvtt")], _manifest(3, 1)) == []
    assert render([]) == "WEBVTT\n\n"

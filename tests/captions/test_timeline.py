"""The cue timeline: when a subtitle segment is published, what it holds, what is late."""

from __future__ import annotations

from townhall.captions.timeline import SHOWN_S, CueTimeline
from townhall.captions.webvtt import Cue, SubtitleSegment, parse_segment, settled_note

SEG = 2.24


def seg(msn: int, discontinuity: bool = False) -> SubtitleSegment:
    return SubtitleSegment(msn, msn * SEG, SEG, 1_700_000_000 + msn * SEG, discontinuity)


def test_a_segment_waits_until_the_recogniser_has_settled_its_audio() -> None:
    t = CueTimeline(hold_s=4.0)
    t.audio_segment(seg(0), now=100.0)
    assert t.publish(now=100.5) == []
    t.add(Cue(1.0, 2.0, "hello"))
    t.settle(SEG)
    assert t.publish(now=101.0) == [0]
    body = t.segment(0)
    assert body is not None and parse_segment(body.decode())[1] == [Cue(1.0, 2.0, "hello")]


def test_a_segment_is_published_after_hold_s_even_if_the_recogniser_lags() -> None:
    t = CueTimeline(hold_s=4.0)
    t.audio_segment(seg(0), now=100.0)
    assert t.publish(now=103.9) == []
    assert t.publish(now=104.0) == [0]


def test_segments_are_published_in_order_never_with_a_hole() -> None:
    t = CueTimeline(hold_s=4.0)
    t.audio_segment(seg(0), now=100.0)
    t.audio_segment(seg(1), now=102.24)
    t.settle(2 * SEG)
    assert t.publish(now=102.3) == [0, 1]
    t.audio_segment(seg(2), now=104.5)
    t.audio_segment(seg(3), now=106.7)
    t.settle(3.5 * SEG)  # the recogniser is inside segment 3
    assert t.publish(now=106.8) == [2]
    assert "vtt/3.vtt" not in t.playlist(SEG)


def test_a_cue_for_published_audio_is_counted_late_and_kept_for_what_follows() -> None:
    t = CueTimeline(hold_s=0.0)
    t.audio_segment(seg(0), now=0.0)
    t.publish(now=0.0)
    assert not t.add(Cue(1.5, 3.0, "late"))
    assert t.late_cues == 1
    t.audio_segment(seg(1), now=1.0)
    t.publish(now=1.0)
    body = t.segment(1)
    # shown for at least SHOWN_S: 0.76 s of it were left after what is published
    assert body is not None and parse_segment(body.decode())[1] == [
        Cue(SEG, SEG + SHOWN_S, "late")]


def test_memory_is_bounded_to_the_kept_segments_and_their_cues() -> None:
    t = CueTimeline(hold_s=0.0, keep_segments=3)
    for msn in range(10):
        t.add(Cue(msn * SEG + 0.1, msn * SEG + 0.5, f"cue {msn}"))
        t.audio_segment(seg(msn, discontinuity=msn == 2), now=float(msn))
        t.publish(now=float(msn))
    assert t.segment(6) is None and t.segment(7) is not None
    assert [c.text for c in t.cues] == ["cue 7", "cue 8", "cue 9"]
    assert t.discontinuity_sequence == 1
    assert t.playlist(SEG).splitlines()[3] == "#EXT-X-MEDIA-SEQUENCE:7"


def test_the_end_publishes_what_waits_and_closes_the_playlist() -> None:
    t = CueTimeline(hold_s=10.0)
    t.audio_segment(seg(0), now=0.0)
    t.end()
    assert t.publish(now=0.1) == [0]
    assert t.playlist(SEG).endswith("#EXT-X-ENDLIST\n")


def test_a_segment_told_twice_or_older_than_published_is_ignored() -> None:
    t = CueTimeline(hold_s=0.0)
    t.audio_segment(seg(3), now=0.0)
    t.publish(now=0.0)
    t.audio_segment(seg(3), now=1.0)
    t.audio_segment(seg(2), now=1.0)
    assert t.publish(now=1.0) == []


def test_a_segment_is_carried_past_an_utterance_that_began_just_before_its_end() -> None:
    t = CueTimeline(hold_s=6.0, carry_s=1.0)
    t.audio_segment(seg(0), now=100.0)
    t.add(Cue(0.5, 1.2, "before"))
    # everything heard; an utterance began 0.6 s before the segment's end and goes on
    t.settle(SEG - 0.6, heard=SEG + 0.3)
    assert t.publish(now=100.3) == [0]  # carried: no wait for that utterance
    body = t.segment(0)
    assert body is not None and parse_segment(body.decode())[1] == [Cue(0.5, 1.2, "before")]
    # its cue comes later: expected, not late, shown from the next segment on
    assert t.add(Cue(SEG - 0.5, SEG + 1.0, "across"))
    assert t.late_cues == 0 and t.carried_cues == 1
    t.audio_segment(seg(1), now=102.24)
    t.settle(2 * SEG)
    assert t.publish(now=102.3) == [1]
    body = t.segment(1)
    assert body is not None and parse_segment(body.decode())[1] == [
        Cue(SEG, SEG + 1.0, "across")]


def test_a_segment_waits_for_an_utterance_that_began_longer_than_carry_s_before_its_end(
        ) -> None:
    t = CueTimeline(hold_s=6.0, carry_s=1.0)
    t.audio_segment(seg(0), now=100.0)
    t.settle(SEG - 1.5, heard=SEG + 0.3)  # 1.5 s of it in segment 0: worth waiting for
    assert t.publish(now=100.3) == []
    t.settle(SEG + 0.5, heard=SEG + 0.5)
    assert t.publish(now=100.6) == [0]
    t.audio_segment(seg(1), now=102.24)
    assert t.publish(now=102.3) == []
    assert not t.add(Cue(0.2, 0.4, "stray"))  # before anything carried: late, as ever
    assert t.late_cues == 1
    t.settle(2 * SEG)
    assert t.publish(now=102.4) == [1]
    body = t.segment(1)  # late, but its words are not lost: shown in the next segment
    assert body is not None and parse_segment(body.decode())[1] == [
        Cue(SEG, SEG + SHOWN_S, "stray")]


def test_a_carried_cue_that_ends_before_the_carried_segments_end_is_shown_in_the_next(
        ) -> None:
    t = CueTimeline(hold_s=6.0, carry_s=1.0)
    t.audio_segment(seg(0), now=100.0)
    t.settle(SEG - 0.8, heard=SEG + 0.2)  # the utterance began 0.8 s before the end
    assert t.publish(now=100.3) == [0]
    # Whisper ends its words 0.1 s before the segment's end (the cutter waited for a pause)
    assert t.add(Cue(SEG - 0.7, SEG - 0.1, "short"))
    assert t.late_cues == 0 and t.carried_cues == 1
    t.audio_segment(seg(1), now=102.24)
    t.settle(2 * SEG)
    assert t.publish(now=102.3) == [1]
    body = t.segment(1)
    assert body is not None and parse_segment(body.decode())[1] == [
        Cue(SEG, SEG + SHOWN_S, "short")]


def test_a_standby_publishes_the_holders_segments_as_they_are_and_takes_over_after() -> None:
    t = CueTimeline(hold_s=1.0, following=True)
    for msn in range(4):
        t.audio_segment(seg(msn), now=100.0 + msn)
    assert t.publish(now=110.0) == []  # never by hold while another origin holds it
    holders = b"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n00:00:00.500 --> " \
        b"00:00:01.000\nfrom the holder\n"
    t.replicated(1, holders)
    t.replicated(2, holders)
    # segment 0 is one the holder no longer keeps: published from here, no hole
    assert t.publish(now=110.1) == [0, 1, 2]
    assert t.segment(1) == holders
    # the holder died: this origin's own rules from segment 3 on
    t.following = False
    t.add(Cue(3 * SEG + 0.2, 3 * SEG + 0.9, "mine"))
    t.settle(4 * SEG)
    assert t.publish(now=110.2) == [3]
    body = t.segment(3)
    assert body is not None and [c.text for c in parse_segment(body.decode())[1]] == ["mine"]


def test_after_a_takeover_segments_wait_for_the_recovery_of_the_old_holders_audio() -> None:
    t = CueTimeline(hold_s=1.0, following=True)
    for msn in range(3):
        t.audio_segment(seg(msn), now=100.0 + msn)
    holders = b"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n"
    t.replicated(0, holders)
    assert t.publish(now=110.0) == [0]
    assert t.covered_msn == 0
    # the holder died before publishing 1 and 2: their audio is recognised here first
    t.following = False
    t.recover(deadline=116.0)
    t.settle(10 * SEG)  # this origin's own program goes on past them
    assert t.publish(now=110.1) == []
    t.add(Cue(SEG + 0.3, SEG + 1.5, "recovered words"))
    t.recovered()
    assert t.publish(now=111.0) == [1, 2]
    body = t.segment(1)
    assert body is not None and [c.text for c in parse_segment(body.decode())[1]] == [
        "recovered words"]


def test_a_recovery_holds_segments_no_longer_than_its_deadline() -> None:
    t = CueTimeline(hold_s=1.0)
    t.audio_segment(seg(0), now=100.0)
    t.recover(deadline=106.0)
    assert t.publish(now=105.9) == []
    assert t.publish(now=106.0) == [0]
    assert t.recovering_until is None


def test_a_published_segment_says_how_far_its_recogniser_had_got_for_a_takeover() -> None:
    t = CueTimeline(hold_s=0.0)
    t.audio_segment(seg(0), now=0.0)
    t.settle(1.5)  # published by hold: the recogniser was 0.74 s behind
    assert t.publish(now=0.0) == [0]
    body = t.segment(0)
    assert body is not None and settled_note(body.decode()) == 1.5
    assert parse_segment(body.decode())[1] == []  # a NOTE is no cue (W3C WebVTT §4.1)
    standby = CueTimeline(hold_s=0.0, following=True)
    standby.audio_segment(seg(0), now=0.0)
    standby.replicated(0, body)
    assert standby.recovery_start() == 1.5  # received, not yet published
    assert standby.publish(now=0.0) == [0]
    assert standby.recovery_start() == 1.5

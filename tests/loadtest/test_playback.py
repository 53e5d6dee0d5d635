"""The playback clock: deadlines, stalls and live-edge distance, with frozen times, no sockets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.loadtest.playback import TOLERANCE_S, Playback

PART = 0.32
T0 = 1_700_000_000.0
PDT0 = T0 - 1.0  # the first part was produced a second before it arrived


def reference_stalls(start: float, arrivals: list[float], part: float = PART) -> list[float]:
    """The brief's formula, computed directly: part k is due at
    T0 + k * part + (stall time so far); arriving later stalls for the difference."""
    stalls: list[float] = []
    for k, arrival in enumerate(arrivals):
        deadline = start + k * part + sum(stalls)
        if arrival - deadline > TOLERANCE_S:
            stalls.append(arrival - deadline)
    return stalls


def play(arrivals: list[float], part: float = PART) -> Playback:
    pb = Playback(arrivals[0], 0.0)
    for k, arrival in enumerate(arrivals):
        pb.arrive(k * part, part, arrival, PDT0 + k * part)
    return pb


def test_parts_in_hand_before_their_deadlines_never_stall() -> None:
    arrivals = [T0 + k * PART - 0.05 if k else T0 for k in range(50)]
    pb = play(arrivals)
    assert pb.stall_count == 0
    assert pb.stalled_s == 0.0
    assert pb.deadline(50 * PART) == pytest.approx(T0 + 50 * PART)


def test_a_late_part_stalls_once_for_its_lateness_and_shifts_every_later_deadline() -> None:
    arrivals = [T0 + k * PART for k in range(10)]
    arrivals[4] += 0.5  # due at T0 + 1.28, in hand at T0 + 1.78
    arrivals[5:] = [a + 0.5 for a in arrivals[5:]]  # the rest follow at the same pace
    pb = play(arrivals)
    assert pb.stall_count == 1
    assert pb.stalls[0].at == pytest.approx(T0 + 4 * PART)
    assert pb.stalls[0].seconds == pytest.approx(0.5)
    assert pb.deadline(10 * PART) == pytest.approx(T0 + 10 * PART + 0.5)


def test_after_a_stall_the_buffer_is_rebuilt_from_the_shifted_deadline() -> None:
    # part 2 is 1 s late; part 3 arrives at its *original* time + 0.9 s: on time after the shift
    arrivals = [T0, T0 + 0.1, T0 + 2 * PART + 1.0, T0 + 3 * PART + 0.9]
    pb = play(arrivals)
    assert [round(s.seconds, 6) for s in pb.stalls] == [1.0]


def test_least_buffer_is_how_close_the_listener_came_to_stalling() -> None:
    # part k arrives 0.25 s before it is due, except part 6: 0.04 s before
    arrivals = [T0] + [T0 + k * PART - (0.04 if k == 6 else 0.25) for k in range(1, 10)]
    pb = play(arrivals)
    assert pb.stall_count == 0
    assert pb.min_headroom_s == pytest.approx(0.04, abs=1e-5)


def test_least_buffer_is_negative_by_the_stall_when_a_part_is_late() -> None:
    arrivals = [T0 + k * PART for k in range(6)]
    arrivals[3] += 0.2
    assert play(arrivals).min_headroom_s == pytest.approx(-0.2, abs=1e-5)


def test_least_buffer_is_unknown_until_media_arrives_after_playback_started() -> None:
    assert play([T0]).min_headroom_s is None


def test_a_part_that_never_comes_is_skipped_as_a_gap_not_waited_for() -> None:
    pb = Playback(T0, 0.0)
    pb.arrive(0.0, PART, T0)
    pb.arrive(2 * PART, PART, T0 + 0.2)  # part 1 never arrives
    assert pb.gaps == 1
    assert pb.skipped_s == pytest.approx(PART)
    assert pb.stall_count == 0
    # part 2 plays where part 1 would have: right when part 0 ends
    assert pb.deadline(3 * PART) == pytest.approx(T0 + 2 * PART)


def test_media_already_in_hand_is_ignored() -> None:
    pb = Playback(T0, 0.0)
    pb.arrive(0.0, PART, T0)
    pb.arrive(PART, PART, T0 + 0.1)
    before = (pb.buffered_until, pb.play_at)
    assert pb.arrive(0.0, PART, T0 + 5.0) is None  # a duplicate, long after: no stall
    assert (pb.buffered_until, pb.play_at) == before


def test_a_dry_buffer_at_the_end_of_the_run_counts_as_a_stall_up_to_then() -> None:
    pb = play([T0, T0 + 0.1, T0 + 0.2])  # 0.96 s of media, all in hand early
    assert pb.finish(T0 + 0.9) is None  # still playing from the buffer
    assert not pb.stalled_at(T0 + 0.9)
    assert pb.stalled_at(T0 + 1.5)
    stall = pb.finish(T0 + 1.5)
    assert stall is not None and stall.seconds == pytest.approx(1.5 - 3 * PART)
    assert pb.stall_count == 1


def test_live_edge_distance_is_wall_time_minus_the_pdt_being_played() -> None:
    pb = Playback(T0, 0.0)
    for k in range(5):
        pb.arrive(k * PART, PART, T0 + 0.01 * k, PDT0 + k * PART)
    assert pb.live_edge_distance(T0) == pytest.approx(1.0)
    assert pb.live_edge_distance(T0 + 1.0) == pytest.approx(1.0)  # playing, not stalled
    # the buffer runs dry at T0 + 1.6: from then on the distance grows with the wall clock
    assert pb.live_edge_distance(T0 + 2.6) == pytest.approx(2.0)


def test_live_edge_distance_follows_a_jump_in_program_date_time() -> None:
    pb = Playback(T0, 0.0)
    pb.arrive(0.0, PART, T0, PDT0)
    pb.arrive(PART, PART, T0 + 0.01, PDT0 + PART + 30.0)  # a discontinuity: 30 s of silence
    assert pb.live_edge_distance(T0 + 0.1) == pytest.approx(1.0)
    assert pb.live_edge_distance(T0 + 0.4) == pytest.approx(1.0 - 30.0)


def test_no_pdt_means_no_distance() -> None:
    pb = Playback(T0, 0.0)
    pb.arrive(0.0, PART, T0)
    assert pb.live_edge_distance(T0) is None


# lateness on a 10 ms grid, so no case sits within float noise of the stall tolerance
lateness = st.lists(st.integers(-50, 200).map(lambda c: c / 100), min_size=2, max_size=60)
START = 1000.0  # a small clock keeps float error far below the tolerance


def arrivals_from(lates: list[float]) -> list[float]:
    """Arrival k at its nominal time plus a lateness, never before the previous one."""
    out: list[float] = []
    for k, late in enumerate(lates):
        at = START + k * PART + max(late, -k * PART)
        out.append(max(at, out[-1]) if out else START)
    return out


@given(lates=lateness)
def test_stalls_match_the_deadline_formula(lates: list[float]) -> None:
    arrivals = arrivals_from(lates)
    pb = play(arrivals)
    ref = reference_stalls(arrivals[0], arrivals)
    assert [s.seconds for s in pb.stalls] == pytest.approx(ref, abs=1e-9)
    assert pb.stalled_s == pytest.approx(sum(ref), abs=1e-9)


@given(lates=lateness, which=st.integers(0, 59), extra=st.floats(0.0, 3.0))
def test_a_part_arriving_later_never_means_less_stalling(lates: list[float], which: int,
                                                         extra: float) -> None:
    arrivals = arrivals_from(lates)
    later = list(arrivals)
    k = 1 + which % (len(later) - 1)  # not the first: it sets T0 (time to first audio)
    later[k:] = [max(a, arrivals[k] + extra) for a in later[k:]]
    # (up to the tolerance: lateness under a millisecond per part is not counted)
    assert play(later).stalled_s >= play(arrivals).stalled_s - TOLERANCE_S * len(arrivals)


@given(lates=lateness)
def test_a_stall_never_exceeds_the_time_waited_and_playback_never_runs_ahead(
        lates: list[float]) -> None:
    arrivals = arrivals_from(lates)
    pb = play(arrivals)
    assert all(s.seconds > 0 for s in pb.stalls)
    assert pb.stalled_s <= arrivals[-1] - arrivals[0] + 1e-9
    # all the media played plus the stalls can not end before the last arrival
    assert pb.play_at >= arrivals[-1] - 1e-9
    assert pb.play_at == pytest.approx(START + len(arrivals) * PART + pb.stalled_s)

"""Listening time from a seat's tickets (admission/listening.py): the stop window, its middle, the
space's end; what several origins saw of one seat merges in the store, in any order."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from townhall.admission.listening import ListeningLog, SeatSpan, median_listening_s
from townhall.store.factory import Stores


def test_a_player_that_renews_every_reload_is_placed_within_one_reload() -> None:
    log = ListeningLog.empty(10)
    log.seen("s", "a", 100.0, 108.0)  # joined, first ticket to 108
    for t in range(109, 131, 2):  # came back lapsed, then renewed at each 2 s reload
        log.seen("s", "a", float(t), float(t + 8))
    span = log.spans["s"]["a"]
    assert span.window() == (129.0, 131.0)
    assert span.listened_s(now=200.0, ended_at=None, slack_s=8) == 30.0  # stopped ~130
    assert span.listened_s(now=130.0, ended_at=None, slack_s=8) == 30.0  # still listening


def test_a_seat_renewed_once_per_ticket_or_never_stops_mid_window() -> None:
    every_step = SeatSpan(0.0, 60.0, 90.0, gap=30.0)  # behind an edge: once per step
    assert every_step.window() == (60.0, 90.0)
    assert every_step.listened_s(500.0, None, 8) == 75.0
    never = SeatSpan(0.0, 0.0, 10.0)  # its first ticket only
    assert never.listened_s(500.0, None, 8) == 5.0
    assert every_step.listened_s(500.0, 70.0, 8) == 65.0  # never past the end
    assert SeatSpan(0.0, 10.0, 20.0, 5.0, left=12.0).listened_s(500.0, None, 8) == 12.0
    assert median_listening_s([never, every_step, SeatSpan(0, 0, 40, left=40)], 500, None,
                              8) == 40.0
    assert median_listening_s([], 0, None, 8) is None


def test_seats_past_the_bound_are_counted_not_followed_and_ended_spaces_are_forgotten() -> None:
    log = ListeningLog.empty(2)
    for seat in "abc":
        log.seen("s", seat, 1.0, 9.0)
    assert sorted(log.spans["s"]) == ["a", "b"] and log.untracked == 1
    assert [seat for _, seat, _ in log.take_changed()] == ["a", "b"]
    assert log.take_changed() == []
    log.forget("s")
    log.seen("s", "a", 50.0, 60.0)  # a late renewal of an ended space: no new seat
    assert "s" not in log.spans


def test_origins_views_of_a_seat_merge_in_the_store_in_any_order(
        open_store: Callable[[], Stores]) -> None:
    store = open_store().reach  # SQLite, then PostgreSQL
    a = SeatSpan(10.0, 40.0, 50.0, gap=30.0)  # origin A granted and renewed once
    b = SeatSpan(45.0, 75.0, 85.0, gap=2.0)  # origin B saw only later renewals
    c = SeatSpan(20.0, 20.0, 30.0, left=None)
    store.put_seats([("s", "x", a), ("s", "y", c)])
    store.put_seats([("s", "x", b), ("t", "x", b)])
    store.put_seats([("s", "y", SeatSpan(20.0, 25.0, 35.0, gap=5.0, left=26.0))])
    store.put_seats([])
    got = {(s.first, s.last): s for s in store.seats("s")}
    assert got[(10.0, 75.0)] == a.merge(b) == b.merge(a) == SeatSpan(10.0, 75.0, 85.0, 2.0)
    assert got[(20.0, 25.0)] == SeatSpan(20.0, 25.0, 35.0, 5.0, 26.0)
    assert store.seats("t") == [b] and store.seats("none") == []


def test_transcript_segments_are_kept_once_per_number(
        open_store: Callable[[], Stores]) -> None:
    store = open_store().reach
    assert not store.has_transcript("s")
    store.put_transcript("s", [(3, "WEBVTT\n\nfirst"), (4, "WEBVTT\n\nfour")])
    store.put_transcript("s", [(3, "WEBVTT\n\na standby's repeat")])
    assert store.transcript("s") == [(3, "WEBVTT\n\nfirst"), (4, "WEBVTT\n\nfour")]
    assert store.has_transcript("s") and not store.has_transcript("t")


def test_seats_past_the_bound_are_exported_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    from townhall.ops.metrics import ANALYTICS_UNTRACKED
    from townhall.reach.analytics import Analytics
    from townhall.settings import Settings

    seats = ListeningLog.empty(1)
    spaces = SimpleNamespace(settings=Settings.of(analytics_max_keys=1))
    analytics = Analytics(spaces, store=None, listening=seats)  # type: ignore[arg-type]
    counter = ANALYTICS_UNTRACKED.labels("seats")
    before = counter._value.get()
    seats.seen("sp", "a", 0.0, 10.0)
    seats.seen("sp", "b", 0.0, 10.0)  # past the bound: counted, not followed
    seats.seen("sp", "c", 1.0, 10.0)
    with caplog.at_level("WARNING", logger="townhall.analytics"):
        analytics._count_untracked()
        analytics._count_untracked()  # nothing new: nothing more
    assert counter._value.get() - before == 2
    assert caplog.text.count("past analytics_max_keys") == 1

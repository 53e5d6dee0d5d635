"""Listener counting: a sliding window over sightings, a peak, and a memory bound."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from townhall.delivery.listeners import ListenerCounter


def test_each_key_counts_once() -> None:
    counter = ListenerCounter(window_s=10, max_tracked=100)
    for now, key in enumerate(["a", "b", "a", "c", "b"]):
        counter.seen(key, float(now))
    assert counter.count(5.0) == 3
    assert counter.peak == 3


def test_listener_counts_until_exactly_the_window_has_passed() -> None:
    counter = ListenerCounter(window_s=10, max_tracked=100)
    counter.seen("a", 100.0)
    assert counter.count(110.0) == 1
    assert counter.count(110.001) == 0


def test_seeing_a_listener_again_keeps_it_counted() -> None:
    counter = ListenerCounter(window_s=10, max_tracked=100)
    counter.seen("a", 0.0)
    counter.seen("b", 1.0)
    counter.seen("a", 8.0)
    assert counter.count(10.5) == 2
    assert counter.count(11.5) == 1  # b expired, a still fresh
    assert counter.count(18.0) == 1
    assert counter.count(18.5) == 0


def test_peak_survives_expiry() -> None:
    counter = ListenerCounter(window_s=5, max_tracked=100)
    for i in range(4):
        counter.seen(f"k{i}", 0.0)
    assert counter.count(100.0) == 0
    counter.seen("late", 100.0)
    assert counter.count(100.0) == 1
    assert counter.peak == 4


def test_tracked_keys_are_bounded_and_the_stalest_go_first() -> None:
    counter = ListenerCounter(window_s=100, max_tracked=3)
    for i, key in enumerate(["a", "b", "c", "d"]):
        counter.seen(key, float(i))
    assert counter.count(4.0) == 3
    assert counter.peak == 3
    counter.seen("b", 5.0)  # b was kept and is refreshed
    counter.seen("e", 6.0)  # evicts c, the stalest
    counter.seen("a", 7.0)  # a had been evicted: it counts again, evicting d
    assert counter.count(7.0) == 3
    assert counter.count(105.5) == 2  # b (5.0) expired, e and a remain


@given(
    window=st.integers(1, 20),
    max_tracked=st.integers(1, 8),
    sightings=st.lists(st.tuples(st.sampled_from("abcdefghij"), st.integers(0, 5)),
                       max_size=60),
)
def test_count_and_peak_match_a_brute_force_model(window: int, max_tracked: int,
                                                  sightings: list[tuple[str, int]]) -> None:
    counter = ListenerCounter(window_s=window, max_tracked=max_tracked)
    last: dict[str, float] = {}
    now = 0.0
    peak = 0
    for key, step in sightings:
        now += step  # a frozen clock that only moves forward
        counter.seen(key, now)
        last[key] = now
        fresh = sum(1 for t in last.values() if t >= now - window)
        expected = min(max_tracked, fresh)
        peak = max(peak, expected)
        assert counter.count(now) == expected
        assert counter.peak == peak
    later = now + window + 1
    assert counter.count(later) == 0
    assert counter.peak == peak

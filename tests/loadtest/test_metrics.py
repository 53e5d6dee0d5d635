"""Percentiles and the per-second timeline of a load run."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.loadtest.metrics import Reservoir, Tally, percentile, summary

values = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200)


@given(vals=values, q=st.floats(0, 100))
def test_percentile_matches_numpy_linear_interpolation(vals: list[float], q: float) -> None:
    assert percentile(vals, q) == pytest.approx(float(np.percentile(vals, q)), rel=1e-9,
                                                abs=1e-6)


@given(vals=values, q1=st.floats(0, 100), q2=st.floats(0, 100))
def test_percentile_is_monotonic_in_q_and_within_the_values(vals: list[float], q1: float,
                                                            q2: float) -> None:
    lo, hi = sorted((q1, q2))
    a, b = percentile(vals, lo), percentile(vals, hi)
    assert a is not None and b is not None
    assert min(vals) - 1e-6 <= a <= b + 1e-6 <= max(vals) + 2e-6


def test_percentile_ends_are_min_and_max_and_nothing_is_none() -> None:
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_rounds_to_the_millisecond_and_counts() -> None:
    s = summary([0.0101, 0.0202, 0.5])
    assert s["count"] == 3
    assert s["min"] == 0.01 and s["max"] == 0.5 and s["p50"] == 0.02
    assert summary([])["p99"] is None


def test_a_second_holds_only_its_own_events_and_totals_keep_everything() -> None:
    tally = Tally()
    tally.stall(0.5)
    tally.error("part:503")
    tally.first_audio(0.2)
    tally.first_audio(0.4)
    tally.request(1000)
    tally.attack_result("forged", "403")
    tally.loop_lag(0.003)
    first = tally.close_second(1, Counter(playing=2, pending=1), 1, [1.0, 2.0, 3.0])
    assert (first.stalls, first.stalled_s, first.errors, first.first_audio) == (1, 0.5, 1, 2)
    assert first.errors_by_kind == {"part:503": 1}
    assert first.ttfa_p50 == pytest.approx(0.3)
    assert first.live_edge_p50 == 2.0
    assert first.active == 2  # pending listeners have not started
    assert first.attack_status == {"403": 1} and first.loop_lag_max == 0.003
    second = tally.close_second(2, Counter(playing=3), 0, [])
    assert (second.stalls, second.errors, second.first_audio, second.requests) == (0, 0, 0, 0)
    assert second.ttfa_p50 is None and second.live_edge_p95 is None
    assert (tally.stalls, tally.requests, tally.bytes, len(tally.ttfa)) == (1, 1, 1000, 2)
    assert tally.attack_by_pattern == Counter(forged=1)


@given(n=st.integers(0, 5000), cap=st.integers(1, 300), seed=st.integers(0, 1000))
def test_a_reservoir_keeps_at_most_its_capacity_of_values_from_the_stream(n: int, cap: int,
                                                                          seed: int) -> None:
    res = Reservoir(cap, random.Random(seed))
    for i in range(n):
        res.add(float(i))
    assert res.seen == n and len(res.values) == min(n, cap)
    assert len(set(res.values)) == len(res.values) and all(0 <= v < n for v in res.values)


def test_a_reservoir_sample_keeps_the_percentiles_of_a_long_stream() -> None:
    res = Reservoir(2000, random.Random(3))
    for i in range(100_000):
        res.add(i / 100_000)
    p50 = percentile(res.values, 50)
    assert p50 is not None and abs(p50 - 0.5) < 0.05

"""A simulated listener reads every answer to /join as the space page does."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.loadtest.admission import (
    Admitted,
    GiveUp,
    RetryLater,
    Solve,
    Wait,
    read_join,
    retry_delay,
)
from townhall.loadtest.player import start_index


def test_a_ticket_is_played_from_our_target_whatever_host_the_origin_names() -> None:
    step = read_join(200, {"status": "admitted", "ticket": "s1.99.x",
                           "playlist_url": "https://origin.example:8443/live/abc/t/s1.99.x/"
                                           "master.m3u8", "renew_after_s": 60.0}, None)
    assert step == Admitted("s1.99.x", "/live/abc/t/s1.99.x/master.m3u8", 60.0)


def test_a_place_in_line_is_polled_with_its_token() -> None:
    step = read_join(202, {"status": "waiting", "token": "tok", "position": 7, "eta_s": 3,
                           "poll_after_s": 5.0}, None)
    assert step == Wait("tok", 7, 5.0)


def test_proof_of_work_is_solved_when_asked() -> None:
    step = read_join(428, {"error": "proof_of_work_required", "challenge": "c", "difficulty": 12},
                     None)
    assert step == Solve("c", 12)


@pytest.mark.parametrize("status", [429, 503])
def test_shedding_and_rate_limits_are_retried_after_the_given_delay(status: int) -> None:
    assert read_join(status, {"error": "x"}, 3.0) == RetryLater(3.0, f"join:{status}")


def test_an_ended_space_is_the_end_and_a_lost_place_is_a_fresh_join() -> None:
    assert read_join(409, {"error": "space_ended"}, None) == GiveUp("join:409", rejoin=False)
    assert read_join(404, {"error": "not_in_queue"}, None) == GiveUp("join:404", rejoin=True)
    assert read_join(404, {"error": "not_found"}, None) == GiveUp("join:404", rejoin=False)
    assert read_join(403, {"error": "bad_ticket"}, None) == GiveUp("join:403", rejoin=True)


def test_a_malformed_success_is_retried_not_trusted() -> None:
    assert read_join(200, {"status": "admitted"}, None) == RetryLater(None, "join:200:malformed")
    assert isinstance(read_join(500, None, None), RetryLater)


@given(after=st.floats(0, 120), attempt=st.integers(1, 50), seed=st.integers(0, 2**32))
def test_retry_after_is_honoured_never_sooner_and_jittered_at_most_half_again(
        after: float, attempt: int, seed: int) -> None:
    delay = retry_delay(after, attempt, random.Random(seed))
    assert after <= delay <= after * 1.5


@given(attempt=st.integers(1, 1000), seed=st.integers(0, 2**32))
def test_without_retry_after_the_backoff_is_bounded(attempt: int, seed: int) -> None:
    assert 0 < retry_delay(None, attempt, random.Random(seed)) <= 10.0


@pytest.mark.parametrize(("durations", "hold_back", "first"), [
    ([0.32] * 10, 0.96, 7),  # LL: PART-HOLD-BACK is three parts
    ([2.24] * 8, 6.0, 5),  # plain: three target durations of 2 s need three 2.24 s segments
    ([0.32, 0.32], 0.96, 0),  # not enough listed: start at the first
    ([], 1.0, 0),
])
def test_playback_starts_hold_back_behind_the_live_edge(durations: list[float],
                                                        hold_back: float, first: int) -> None:
    assert start_index(durations, hold_back) == first

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.simulate.model import Capacities, Deployment, Player, join_storm, steady_state


def test_a_stock_ll_listener_asks_a_playlist_and_a_part_per_part() -> None:
    rates = Player(part_s=0.25, details_poll_s=2, ticket_ttl_s=100,
                   reloads_per_part=1.0).requests_per_s()
    assert rates == {"playlist": 4.0, "part": 4.0, "details": 0.5, "renew": 0.02}


def test_the_pages_ll_listener_asks_a_playlist_every_second_part() -> None:
    rates = Player(part_s=0.25, details_poll_s=2, ticket_ttl_s=100).requests_per_s()
    assert rates == {"playlist": 2.0, "part": 4.0, "details": 0.5, "renew": 0.02}


def test_edges_collapse_listeners_so_origin_fills_grow_with_edges_not_listeners() -> None:
    small = steady_state(Deployment(10_000, edges=4))
    big = steady_state(Deployment(1_000_000, edges=4))
    assert small["origin_fill_requests_per_s"] == big["origin_fill_requests_per_s"]
    assert big["edge_requests_per_s"] == pytest.approx(100 * small["edge_requests_per_s"], rel=1e-4)


def test_a_shield_tier_caps_origin_fills_at_the_shield_count() -> None:
    one_core = Capacities.measured(edge_cores=1)  # many small edges: about 1,900
    direct = steady_state(Deployment(8_000_000, capacities=one_core))
    shielded = steady_state(Deployment(8_000_000, shields=4, capacities=one_core))
    assert shielded["origin_fill_requests_per_s"] < direct["origin_fill_requests_per_s"] / 100
    assert shielded["shield_requests_per_s"] == pytest.approx(
        direct["origin_fill_requests_per_s"], rel=0.01)


def test_renewals_are_not_collapsed() -> None:
    d = steady_state(Deployment(600_000, player=Player(ticket_ttl_s=60)))
    assert d["origin_renewals_per_s"] == 20_000


@given(st.integers(min_value=1_000, max_value=20_000_000))
def test_planned_edges_stay_within_capacity_and_headroom(n: int) -> None:
    caps = Capacities.measured()
    d = steady_state(Deployment(n, capacities=caps))
    assert d["edge_requests_per_s_each"] <= caps.edge_rps * 0.7 + 1
    assert d["edge_egress_gbps"] / d["edges"] <= caps.edge_egress_gbps * 0.7 + 1e-6


def test_join_storm_within_capacity_answers_everyone_by_the_end_of_the_window() -> None:
    s = join_storm(1000, window_s=10, joins_per_s_capacity=500)
    assert s["all_answered_after_s"] == 10 and s["worst_wait_s"] == 0
    assert s["curve"][-1]["answered"] == 1000


def test_join_storm_over_capacity_builds_a_backlog_that_drains_at_capacity() -> None:
    s = join_storm(10_000, window_s=10, joins_per_s_capacity=500)
    assert s["all_answered_after_s"] == 20 and s["worst_wait_s"] == 10
    assert max(p["backlog"] for p in s["curve"]) == 5000


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        join_storm(0, 10, 10)
    with pytest.raises(ValueError):
        Player(mode="dash").requests_per_s()


def test_a_capped_space_lands_on_its_home_origin_however_many_origins_there_are() -> None:
    one = steady_state(Deployment(1_300_000, shields=8, capped=True))
    assert one["home_origin_requests_per_s"] == one["origin_requests_per_s"]
    assert one["join_origins"] == 1
    ten = steady_state(Deployment(1_300_000, shields=8, spaces=10, capped=True))
    assert ten["home_origin_requests_per_s"] == pytest.approx(
        ten["origin_requests_per_s"] / 10, rel=0.01)
    assert ten["home_origin_load"] < one["home_origin_load"]


def test_an_open_spaces_renewals_spread_over_origins_its_fills_do_not() -> None:
    d = steady_state(Deployment(8_000_000))  # no shields: fills dominate, several origins
    assert d["origins"] > 1 and d["join_origins"] == d["origins"]
    fills = d["origin_fill_requests_per_s"]
    assert d["home_origin_requests_per_s"] == pytest.approx(
        fills + d["origin_renewals_per_s"] / d["origins"], rel=0.01)


def test_an_uncapped_audience_renews_within_the_servers_budget() -> None:
    player = Player(ticket_ttl_s=120, ticket_ttl_max_s=1800, renewals_per_s_per_space=500)
    small = steady_state(Deployment(10_000, player=player))
    assert small["ticket_ttl_s"] == 120
    mid = steady_state(Deployment(100_000, player=player))
    assert mid["origin_renewals_per_s"] == pytest.approx(500, rel=0.01)
    big = steady_state(Deployment(8_000_000, player=player))
    assert big["ticket_ttl_s"] == 1800 and big["origin_renewals_per_s"] == round(8e6 / 900)

"""The model with per-core edge capacity, both latency tiers and the measured wire bytes."""

from __future__ import annotations

import argparse

import pytest

from townhall.commands import simulate
from townhall.simulate.model import Capacities, Deployment, Player, steady_state


def test_edge_capacity_is_per_core_times_cores_unless_given_whole() -> None:
    per_core = Capacities.measured(edge_requests_per_s_per_core=39_000, edge_cores=16)
    assert per_core.edge_rps == 624_000
    assert Capacities.measured(edge_requests_per_s=40_000, edge_cores=16).edge_rps == 40_000


def test_the_standard_tier_needs_fewer_requests_and_fewer_bytes_than_low_latency() -> None:
    low = steady_state(Deployment(1_300_000, player=Player(mode="ll")))
    std = steady_state(Deployment(1_300_000, player=Player(mode="plain",
                                                           playlist_bytes=213)))
    # the page's hls.js: a part every 0.32 s, a reload every second part, details every 2 s
    assert low["per_listener_requests_per_s"] == pytest.approx(5.19, abs=0.01)
    assert 1.0 <= std["per_listener_requests_per_s"] <= 2.0  # one or two a second
    assert std["wire_kbps_per_listener"] < low["wire_kbps_per_listener"]
    assert 64 < std["wire_kbps_per_listener"] < 80  # audio plus a little
    assert std["edges"] < low["edges"]
    # with 16-core edges, bandwidth, not requests, sizes the standard tier
    assert std["edges"] == std["edges_for_egress"] > std["edges_for_requests"]


def test_simulate_prints_edges_and_egress_for_both_tiers_at_both_audiences(
        capsys: pytest.CaptureFixture[str]) -> None:
    p = argparse.ArgumentParser()
    simulate.add_arguments(p)
    assert simulate.run(p.parse_args([])) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "1,300,000" in line)
    assert header.split() == ["1,300,000", "1,300,000", "8,000,000", "8,000,000"]
    assert next(line for line in out.splitlines() if line.strip().startswith("low")).split() \
        == ["low", "standard", "low", "standard"]
    for row in ("edges needed", "edge egress Gb/s", "wire kb/s per listener"):
        assert len(next(ln for ln in out.splitlines() if ln.startswith(row)).split()) >= 4

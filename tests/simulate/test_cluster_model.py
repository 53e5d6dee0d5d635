"""The model of the cluster topology, with the measured edge figure."""

from __future__ import annotations

from townhall.simulate.model import Capacities, Deployment, Player, steady_state


def test_the_measured_edge_figure_plans_one_four_core_edge_for_12500_ll_listeners() -> None:
    # the README's 16-core run (bench/edge_scale.py): 39,000 requests per nginx core-second
    caps = Capacities.measured(edge_cores=4, edge_requests_per_s_per_core=39_000)
    assert caps.edge_rps == caps.edge_requests_per_s_per_core * 4
    # measured with the load tester's players: a blocking reload every part
    d = steady_state(Deployment(12_500, capacities=caps, player=Player(reloads_per_part=1.0)))
    # 12,500 listeners at about 6.2 requests/s: one 4-worker edge, as measured (2.3 cores)
    assert d["edges"] == 1
    assert d["edge_requests_per_s"] / caps.edge_requests_per_s_per_core < 2.5
    # about 6,000 listeners per worker core
    per_core = caps.edge_requests_per_s_per_core / d["per_listener_requests_per_s"]
    assert 5_500 < per_core < 6_500


def test_a_cluster_always_plans_a_standby_origin_and_counts_its_replication() -> None:
    small = steady_state(Deployment(1_000))
    assert small["origins"] >= 2
    many = steady_state(Deployment(100_000, spaces=50))
    per_space = Capacities.measured().replication_cores_per_space
    assert many["standby_replication_cores"] == round(50 * per_space, 2)

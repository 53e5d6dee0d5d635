from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.admission.rate_limit import ClientLimiter, Gcra, Rate, network_of


def test_burst_is_allowed_then_the_rate_applies() -> None:
    g = Gcra(Rate(per_second=2, burst=5))
    assert all(g.allow("a", 0.0)[0] for _ in range(5))
    ok, wait = g.allow("a", 0.0)
    assert not ok and wait == pytest.approx(0.5)
    assert g.allow("a", 0.5)[0]


def test_keys_have_separate_budgets() -> None:
    g = Gcra(Rate(1, 1))
    assert g.allow("a", 0)[0] and g.allow("b", 0)[0]
    assert not g.allow("a", 0)[0]


@given(st.floats(min_value=0.5, max_value=50), st.integers(min_value=1, max_value=20),
       st.lists(st.floats(min_value=0, max_value=0.3), min_size=1, max_size=200))
def test_allowed_requests_never_exceed_burst_plus_rate_times_time(
        rate: float, burst: int, gaps: list[float]) -> None:
    g = Gcra(Rate(rate, burst))
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        allowed += g.allow("k", now)[0]
    assert allowed <= burst + rate * now + 1e-6


def test_memory_is_bounded_by_forgetting_the_oldest_client() -> None:
    g = Gcra(Rate(1, 1), max_keys=100)
    for i in range(1000):
        g.allow(f"k{i}", 0)
    assert len(g._tat) == 100


def test_networks_are_slash24_and_slash48() -> None:
    assert network_of("127.10.3.7") == "127.10.3.0/24"
    assert network_of("2001:db8:1:2::9") == "2001:db8:1::/48"
    assert network_of("not-an-ip") == "not-an-ip"


def test_many_addresses_in_one_network_share_the_network_budget() -> None:
    lim = ClientLimiter(Rate(10, 10), Rate(5, 5))
    results = [lim.allow(f"10.0.0.{i}", 0)[0] for i in range(20)]
    assert results.count(True) == 5
    assert lim.allow("10.0.1.1", 0)[0]  # another /24 is untouched


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError):
        Rate(0, 1)

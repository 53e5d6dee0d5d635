"""The ingest connection pool (sans-IO): a per-network share, and idle unauthorised holders
evicted (oldest first, the busiest network first) before a source with a key is refused."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from townhall.ingest.pool import IngestPool, network_of


def test_networks_are_slash_24_and_slash_64() -> None:
    assert network_of("203.0.113.7") == network_of("203.0.113.250") == "203.0.113.0/24"
    assert network_of("203.0.114.7") != network_of("203.0.113.7")
    assert network_of("2001:db8:1:2:aaaa::1") == network_of("2001:db8:1:2:ffff::9")
    assert network_of("2001:db8:1:3::1") != network_of("2001:db8:1:2::1")
    assert network_of("::ffff:203.0.113.7") == "203.0.113.0/24"
    assert network_of("") == "other"


def test_a_network_past_its_share_evicts_its_own_oldest_idle_holder() -> None:
    pool = IngestPool(max_total=100, per_network=3)
    ids = [pool.arrive("198.51.100.1")[0] for _ in range(3)]
    conn, arrival = pool.arrive("198.51.100.9")
    assert arrival.admitted and arrival.evict == ids[0]
    assert len(pool) == 3 and not pool.holds(ids[0]) and pool.holds(conn)
    for held in (ids[1], ids[2], conn):
        pool.authorised(held)
    refused = pool.arrive("198.51.100.2")[1]
    assert not refused.admitted and refused.refusal == "address_share"
    assert pool.arrive("192.0.2.1")[1].admitted  # another network is untouched


def test_a_full_pool_evicts_an_idle_holder_of_the_busiest_network_before_refusing() -> None:
    pool = IngestPool(max_total=4, per_network=3)
    crowd = [pool.arrive("198.51.100.1")[0] for _ in range(3)]
    lone = pool.arrive("192.0.2.1")[0]
    conn, arrival = pool.arrive("203.0.113.5")  # a real source arrives at a full pool
    assert arrival.admitted and arrival.evict == crowd[0]
    pool.authorised(conn)
    for held in (*crowd[1:], lone):
        pool.authorised(held)
    refused = pool.arrive("203.0.113.6")[1]
    assert not refused.admitted and refused.refusal == "pool_full"  # all are sources now


def test_answered_connections_that_are_only_closing_go_first() -> None:
    pool = IngestPool(max_total=3, per_network=3)
    a, _b, c = (pool.arrive(f"10.0.{i}.1")[0] for i in range(3))
    pool.authorised(a)
    pool.finished(c)
    assert pool.arrive("10.9.0.1")[1].evict == c


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), max_size=200))
def test_a_source_with_a_key_is_refused_only_when_the_pool_holds_no_idle_holder(
        arrivals: list[tuple[int, bool]]) -> None:
    pool = IngestPool(max_total=20, per_network=6)
    for net, authorise in arrivals:
        idle_here = pool.provisional
        conn, arrival = pool.arrive(f"198.51.{net}.1")
        if not arrival.admitted:
            assert arrival.refusal in ("address_share", "pool_full")
            if arrival.refusal == "pool_full":
                assert idle_here == 0
            continue
        assert len(pool) <= 20
        if authorise:
            pool.authorised(conn)

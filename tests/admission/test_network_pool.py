"""The operator's reserve in a pool with a per-network share (sans-IO, no sockets): the last
`reserved` slots are only the operator's; the operator has no network share and, at a full
pool, ends a provisional holder that is not the operator's before it is refused; nobody
ever ends one of the operator's connections. The WHIP edge's side of it (one reserved slot
per operator seat at a time) is checked on `Speakers.take_slot` without a socket too, and the
hosting quotas' bound on waiting sources cuts the operator's off last."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from townhall.admission.network_pool import NetworkPool
from townhall.live.errors import SpaceError
from townhall.live.registry.hosting import ADMIN, Hosting
from townhall.live.stage.whip_pool import WhipPool
from townhall.settings import Settings
from townhall.space.roles import Role, Seat, SeatState


def _fill(pool: NetworkPool, n: int, *, authorise: bool, first_net: int = 0) -> list[int]:
    """`n` connections from as many /24s, one each (no network share is ever reached)."""
    out = []
    for i in range(n):
        conn, arrival = pool.arrive(f"10.{first_net + i}.0.1")
        assert arrival.admitted
        if authorise:
            pool.authorised(conn)
        out.append(conn)
    return out


def test_the_reserved_slots_are_the_operators_and_nobody_elses() -> None:
    pool = NetworkPool(max_total=8, per_network=3, reserved=2)
    _fill(pool, 6, authorise=True)  # the others' part of the pool, held with audio
    refused = pool.arrive("192.0.2.1")[1]
    assert not refused.admitted and refused.refusal == "pool_full"
    for _ in range(2):  # the operator takes the reserve, ending nobody
        conn, arrival = pool.arrive("203.0.113.9", operator=True)
        assert arrival.admitted and arrival.evict is None
        pool.authorised(conn)
    assert len(pool) == 8 and pool.operator == 2
    refused = pool.arrive("203.0.113.9", operator=True)[1]  # all held with audio: 503
    assert not refused.admitted and refused.refusal == "pool_full"


def test_at_a_full_pool_the_operator_ends_a_silent_holder_never_one_with_audio() -> None:
    pool = NetworkPool(max_total=6, per_network=4, reserved=1)
    loud = _fill(pool, 2, authorise=True)
    crowd = [pool.arrive("198.51.100.1")[0] for _ in range(3)]  # silent, one busy /24
    mine = pool.arrive("203.0.113.9", operator=True)[0]  # the reserve
    conn, arrival = pool.arrive("203.0.113.9", operator=True)
    assert arrival.admitted and arrival.evict == crowd[0]
    assert arrival.evicted_for == "operator"
    assert all(pool.holds(c) for c in (*loud, *crowd[1:], mine, conn))


def test_the_operator_has_no_network_share_and_takes_none_of_its_networks() -> None:
    pool = NetworkPool(max_total=20, per_network=2, reserved=4)
    neighbours: list[int] = []
    for _ in range(2):  # an attacker beside the operator holds the /24's share, with audio
        conn = pool.arrive("198.51.100.7")[0]
        pool.authorised(conn)
        neighbours.append(conn)
    assert not pool.arrive("198.51.100.8")[1].admitted  # the share holds for others
    ops = [pool.arrive("198.51.100.1", operator=True) for _ in range(3)]
    assert all(a.admitted and a.evict is None for _, a in ops)
    assert pool.held("198.51.100.1") == 2  # the operator's are counted in no network
    for conn in neighbours:
        pool.leave(conn)
    assert all(pool.arrive("198.51.100.2")[1].admitted for _ in range(2))


def test_nobody_ends_a_silent_session_of_the_operator() -> None:
    pool = NetworkPool(max_total=4, per_network=4, reserved=1)
    mine = pool.arrive("198.51.100.1", operator=True)[0]  # silent: no audio yet
    _fill(pool, 3, authorise=False)
    for i in range(20):  # a flood from the operator's own /24 and from others
        address = "198.51.100.2" if i % 2 else f"10.{50 + i}.0.1"
        _, arrival = pool.arrive(address)
        assert arrival.evict != mine
    assert pool.holds(mine)


def test_the_others_keep_every_unreserved_slot_the_operators_overflow_takes_them() -> None:
    pool = NetworkPool(max_total=8, per_network=8, reserved=2)
    pool.authorised(pool.arrive("203.0.113.9", operator=True)[0])  # one of the reserve
    assert len(_fill(pool, 6, authorise=True)) == 6  # the others still have all six
    assert not pool.arrive("10.99.0.1")[1].admitted
    pool.authorised(pool.arrive("203.0.113.9", operator=True)[0])  # the reserve is full
    pool2 = NetworkPool(max_total=8, per_network=8, reserved=2)
    for _ in range(3):  # past its reserve, the operator takes the others' slots
        pool2.authorised(pool2.arrive("203.0.113.9", operator=True)[0])
    assert len(_fill(pool2, 5, authorise=True)) == 5
    assert not pool2.arrive("10.99.0.1")[1].admitted


def test_a_reserve_that_leaves_nobody_a_slot_is_refused() -> None:
    with pytest.raises(ValueError, match="reserved"):
        NetworkPool(max_total=4, per_network=2, reserved=4)
    with pytest.raises(ValueError, match="reserved"):
        NetworkPool(max_total=4, per_network=2, reserved=-1)


ACTS = st.lists(st.tuples(st.sampled_from(["arrive", "operator", "audio", "leave"]),
                          st.integers(0, 4), st.integers(0, 30)), max_size=250)


@settings(max_examples=300, deadline=None)
@given(ACTS)
def test_the_operator_is_refused_only_at_a_full_pool_of_sessions_with_audio_or_its_own(
        acts: list[tuple[str, int, int]]) -> None:
    total, share, reserved = 10, 3, 3
    pool = NetworkPool(max_total=total, per_network=share, reserved=reserved)
    held: dict[int, bool] = {}  # connection -> the operator's
    audio: set[int] = set()
    for act, net, pick in acts:
        if act in ("arrive", "operator"):
            operator = act == "operator"
            silent_others = [c for c in held if not held[c] and c not in audio]
            conn, arrival = pool.arrive(f"10.0.{net}.{pick}", operator=operator)
            if arrival.evict is not None:
                assert not held[arrival.evict] and arrival.evict not in audio
                del held[arrival.evict]
            if operator:
                assert arrival.admitted or (len(held) == total and not silent_others)
            if arrival.admitted:
                held[conn] = operator
        elif held:
            conn = sorted(held)[pick % len(held)]
            if act == "audio":
                pool.authorised(conn)
                audio.add(conn)
            else:
                pool.leave(conn)
                del held[conn]
                audio.discard(conn)
        ops = sum(held.values())
        assert len(pool) == len(held) <= total and pool.operator == ops
        # nobody else ever sits in the reserve the operator does not fill itself
        assert len(held) - ops + max(0, ops - reserved) <= total - reserved


def _speakers(is_operator: bool) -> WhipPool:
    s = Settings.of(whip_max_sessions=4, whip_sessions_per_network=1, whip_operator_reserved=2)
    return WhipPool(s, is_operator=lambda space: is_operator)


def _space(space_id: str) -> Any:
    return SimpleNamespace(record=SimpleNamespace(id=space_id))


def test_only_the_operators_host_and_invited_speakers_offer_from_the_reserve() -> None:
    theirs, mine = _speakers(False), _speakers(True)
    host = Seat("host", "Host", Role.HOST, SeatState.INVITED, 0.0)
    speaker = Seat("s1", "Guest", Role.SPEAKER, SeatState.INVITED, 0.0)
    hand = Seat("h1", "Listener", Role.LISTENER, SeatState.RAISED, 0.0)
    live = Seat("s2", "Guest", Role.SPEAKER, SeatState.LIVE, 0.0)
    removed = Seat("s3", "Guest", Role.SPEAKER, SeatState.REMOVED, 0.0)
    space = _space("sp")
    assert mine.operator_offer(space, host) == "sp/host"
    assert mine.operator_offer(space, speaker) == "sp/s1"
    for seat in (hand, live, removed):
        assert mine.operator_offer(space, seat) is None
    assert theirs.operator_offer(space, host) is None


def test_an_operator_seat_holds_one_reserved_slot_at_a_time() -> None:
    speakers = _speakers(True)
    others = [speakers.take(f"10.{i}.0.1") for i in range(2)]  # the unreserved two
    for slot in others:
        speakers.heard(slot)
    with pytest.raises(SpaceError) as full:
        speakers.take("10.9.0.1")
    assert (full.value.status, full.value.code) == (503, "whip_full")
    first = speakers.take("203.0.113.9", "sp/host")
    with pytest.raises(SpaceError) as again:  # the same seat again: anyone's rules
        speakers.take("203.0.113.9", "sp/host")
    assert again.value.code == "whip_full"
    speakers.take("203.0.113.9", "sp/s1")  # another seat of the operator's: admitted
    speakers.release(first)
    speakers.take("203.0.113.9", "sp/host")  # its slot given back: the reserve again


def _waiting(space_id: str) -> Any:
    """A space whose one WHIP session waits for its first audio (provisional)."""
    speakers = SimpleNamespace(heard=False, waiting=[SimpleNamespace(cut_off=None)])
    return SimpleNamespace(record=SimpleNamespace(id=space_id), program=None, ingest=None,
                           speakers=speakers)


def test_past_the_provisional_bound_the_operators_waiting_source_is_cut_off_last() -> None:
    spaces = {sid: _waiting(sid) for sid in ("op", "a", "b")}
    keys = SimpleNamespace(owners=lambda: {"a": "key-a", "b": "key-b", "op": ADMIN})
    finder = SimpleNamespace(find=spaces.get)
    hosting = Hosting(Settings.of(ingest_provisional_max=2), cast(Any, keys), cast(Any, finder))
    assert hosting.operators(spaces["op"]) and not hosting.operators(spaces["a"])
    for sid in ("op", "a", "b"):  # the operator's waits longest, then a third arrives
        hosting._make_room(spaces[sid])
    assert spaces["op"].speakers.waiting[0].cut_off is None
    assert spaces["a"].speakers.waiting[0].cut_off == "evicted_no_audio"

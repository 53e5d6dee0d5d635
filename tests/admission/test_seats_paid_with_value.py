"""A capped space's seats are paid with value (issue 18): provisional until the holder comes
back, a per-network share, and provisional seats evicted before a newcomer is refused.
Sans-IO: the in-process room, a frozen clock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from townhall.admission.shares import network_share, share_key
from townhall.admission.waiting_room import Admitted, Queued, Refused, WaitingRoom


def room(cap: int = 40, provisional_s: float = 20.0) -> WaitingRoom:
    return WaitingRoom(cap, 120.0, 20.0, provisional_s=provisional_s, share_fraction=0.25,
                       share_floor=16)


def test_networks_are_a_24_or_a_64_and_the_share_has_a_floor() -> None:
    assert share_key("192.0.2.77") == share_key("192.0.2.1") == "192.0.2.0/24"
    assert share_key("::ffff:192.0.2.9") == "192.0.2.0/24"
    assert share_key("2001:db8:0:1::5") == share_key("2001:db8:0:1:ffff::1")
    assert share_key("2001:db8:0:1::5") != share_key("2001:db8:0:2::5")
    assert network_share(40, 0.25, 16) == 16 and network_share(1000, 0.25, 16) == 250
    assert network_share(10, 0.25, 16) == 10


def test_35_gets_from_one_address_leave_room_for_ten_real_listeners() -> None:
    r = room()
    outs = [r.join(0.1 * i, "203.0.113.9", wait=False) for i in range(35)]
    assert sum(isinstance(o, Admitted) for o in outs) == 16  # its network's share
    assert {o.reason for o in outs if isinstance(o, Refused)} == {"network_share"}
    real = [r.join(4, f"198.51.{i}.1", wait=False) for i in range(10)]
    assert all(isinstance(o, Admitted) for o in real), real


def test_a_seat_is_provisional_until_its_holder_comes_back() -> None:
    r = room()
    seat = r.join(0, "198.51.100.1")
    assert isinstance(seat, Admitted) and seat.expires == 20.0 and r.provisional == 1
    too_soon = r.renew(seat.seat, 1)  # straight back, nothing played: still provisional
    assert too_soon == Admitted(seat.seat, 20.0) and r.provisional == 1
    full = r.renew(seat.seat, 10)
    assert full is not None and full.expires == 130.0 and r.provisional == 0
    assert r.confirmed_total == 1
    never = r.join(0, "198.51.100.2")
    assert isinstance(never, Admitted)
    r.tick(20.5)
    assert r.renew(never.seat, 21) is None and r.occupied == 1  # lapsed at 20 s, not 120 s


def test_a_full_room_evicts_an_unproven_seat_of_the_busiest_network_first() -> None:
    r = room(cap=40)
    attacker = [r.join(0, f"203.0.{i % 3}.{i}", wait=False) for i in range(37)]  # 3 networks
    early = [r.join(0, f"198.51.{i}.1", wait=False) for i in range(3)]
    assert all(isinstance(o, Admitted) for o in attacker + early) and r.occupied == 40
    for o in early:  # real players come back and pay: full seats
        assert isinstance(o, Admitted) and r.renew(o.seat, 5) is not None
    newcomers = [r.join(6, f"192.0.{i}.1", wait=False) for i in range(37)]
    assert all(isinstance(o, Admitted) for o in newcomers)
    assert r.evicted_total == 37 and r.occupied == 40
    for o in early:  # never evicted: paid
        assert isinstance(o, Admitted) and r.renew(o.seat, 7) is not None
    for o in newcomers:
        assert isinstance(o, Admitted) and r.renew(o.seat, 10) is not None
    # a room full of paid seats refuses (or queues) a newcomer: nothing left to evict
    assert r.join(11, "100.64.0.1", wait=False) == Refused("full", 20.0)
    assert isinstance(r.join(11, "100.64.0.1"), Queued)


def test_without_provisional_seats_every_seat_is_full_at_once() -> None:
    r = room(provisional_s=0)
    seat = r.join(0, "198.51.100.1")
    assert isinstance(seat, Admitted) and seat.expires == 120.0 and r.provisional == 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["join", "renew", "leave", "tick"]),
                          st.integers(0, 11), st.floats(0, 5)), max_size=150))
def test_the_cap_and_every_share_hold_whatever_arrives(
        ops: list[tuple[str, int, float]]) -> None:
    r = WaitingRoom(12, 60.0, 10.0, provisional_s=10.0, share_fraction=0.25, share_floor=3)
    now, seats = 0.0, []
    for op, who, dt in ops:
        now += dt
        address = f"10.{who % 4}.0.{who}"  # 12 addresses in 4 networks
        if op == "join":
            out = r.join(now, address, wait=False)
            if isinstance(out, Admitted):
                seats.append(out.seat)
        elif op == "renew" and seats:
            r.renew(seats[who % len(seats)], now)
        elif op == "leave" and seats:
            r.leave(seats.pop(who % len(seats)), now)
        else:
            r.tick(now)
        assert r.occupied <= 12
        assert all(n <= 3 for n in r._held.values()), r._held
        assert sum(r._held.values()) == r.occupied  # every seat counted once, freed once


def test_a_household_filling_a_small_room_waits_in_line_for_the_next_seat() -> None:
    # a share as large as the room binds nothing: the second listener behind one address
    # waits in line (FIFO) instead of being refused for its network's share
    r = room(cap=1)
    assert isinstance(r.join(0, "198.51.100.7"), Admitted)
    second = r.join(1, "198.51.100.7")
    assert isinstance(second, Queued) and second.position == 1

"""A capped space's waiting room shared by origins through a real redis-server: one line, one
cap, any origin answers any waiter; and what each origin does while Redis is away."""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster import Redis
from harness.server import free_port
from tests.admission.room_backends import Rooms
from townhall.admission.waiting_room import Admitted, Queued
from townhall.cluster.redis_room import RedisRoom


@pytest.fixture
def shared(redis_server: Redis) -> Iterator[Rooms]:
    made = Rooms("redis", redis_server.url)
    try:
        yield made
    finally:
        made.close()


def test_waiters_spread_over_two_origins_are_admitted_in_one_global_order(
        shared: Rooms) -> None:
    a = shared.make(cap=3, ttl=60, grace=30, space="global-order")
    b = shared.make(cap=3, ttl=60, grace=30, space="global-order")
    origins = [a, b]
    seats = [o.join(0) for o in (a, b, a)]
    assert all(isinstance(s, Admitted) for s in seats)
    waiters: list[tuple[int, str]] = []
    for i in range(10):  # alternate origins: one line, positions 1..10 wherever asked
        out = origins[i % 2].join(1 + i * 0.1)
        assert isinstance(out, Queued) and out.position == i + 1
        waiters.append((i, out.token))
    for i, token in waiters:  # the other origin tells the same position
        again = origins[(i + 1) % 2].poll(token, 3)
        assert isinstance(again, Queued) and again.position == i + 1
    admitted: list[int] = []
    held = [s.seat for s in seats if isinstance(s, Admitted)]
    rng = random.Random(7)
    now = 4.0
    while waiters:
        now += 0.5
        rng.choice(origins).leave(held.pop(0), now)  # a seat frees up on some origin
        for i, token in list(waiters):
            out = rng.choice(origins).poll(token, now)
            if isinstance(out, Admitted):
                admitted.append(i)
                held.append(out.seat)
                waiters.remove((i, token))
            for o in origins:
                assert o.occupied <= 3  # the cap, cluster-wide
    assert admitted == list(range(10))


def test_a_waiter_whose_origin_died_keeps_its_place_on_another(shared: Rooms) -> None:
    a = shared.make(cap=1, space="origin-died")
    a.join(0)
    first, second = a.join(1), a.join(2)
    assert isinstance(first, Queued) and isinstance(second, Queued)
    shared.loop.run_until_complete(shared.clients[0].aclose())  # origin a is gone
    b = shared.make(cap=1, space="origin-died")
    out = b.poll(second.token, 3)
    assert isinstance(out, Queued) and out.position == 2


def test_the_cap_is_held_when_two_origins_race_for_the_last_seats(shared: Rooms) -> None:
    a = shared.make(cap=5, space="race")
    b = shared.make(cap=5, space="race")
    outs = [(a if i % 2 else b).join(0) for i in range(40)]
    assert sum(isinstance(o, Admitted) for o in outs) == 5
    assert [o.position for o in outs if isinstance(o, Queued)] == list(range(1, 36))


def test_without_redis_renewals_go_on_waiters_keep_places_and_joins_degrade(
        tmp_path: Path) -> None:
    server = Redis(free_port(), tmp_path / "redis")
    server.start()
    rooms = Rooms("redis", server.url)
    try:
        a = rooms.make(cap=3, ttl=60, grace=30, space="outage")
        b = rooms.make(cap=3, ttl=60, grace=30, space="outage")
        seat = a.join(0)
        assert isinstance(seat, Admitted)
        assert isinstance(b.join(0), Admitted)
        a.tick(5)  # a's numbers as the periodic refresh keeps them: 2 seats taken
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)  # Redis stops answering
        try:
            renewed = a.renew(seat.seat, 10)  # a listener's renewal is answered
            assert renewed is not None and renewed.expires == 70
            local = a.join(11)  # the one seat free when Redis was last seen, on this origin
            assert isinstance(local, Admitted)
            queued_here = a.join(12)
            assert isinstance(queued_here, Queued)
        finally:
            server.process.send_signal(signal.SIGCONT)
        assert a.renew(local.seat, 13) is not None  # the degraded seat is written back
        assert a.occupied == 3
        waiting = b.join(14)  # the shared line: the seat a admitted alone counts
        assert isinstance(waiting, Queued) and waiting.position == 1
        moved = a.poll(queued_here.token, 15)  # a's own line joins the shared one, at its back
        assert isinstance(moved, Queued) and moved.position == 2
        seen_on_b = b.poll(queued_here.token, 16)
        assert isinstance(seen_on_b, Queued) and seen_on_b.position == 2
        assert isinstance(a.room, RedisRoom) and a.room.degraded >= 3
    finally:
        rooms.close()
        server.stop()


def test_after_redis_restarted_empty_seats_and_places_are_taken_back(tmp_path: Path) -> None:
    server = Redis(free_port(), tmp_path / "redis")
    server.start()
    rooms = Rooms("redis", server.url)
    try:
        a = rooms.make(cap=2, ttl=60, grace=30, space="restart")
        b = rooms.make(cap=2, ttl=60, grace=30, space="restart")
        first, second = a.join(0), b.join(0)
        assert isinstance(first, Admitted) and isinstance(second, Admitted)
        waiter = a.join(1)
        assert isinstance(waiter, Queued) and waiter.position == 1
        b.tick(2)
        server.stop()  # everything Redis held is gone
        server.start()
        for room in (a, b):  # the first call after the restart may find the old connection
            room.tick(3)
            room.tick(3)
        newcomer = b.join(4)  # the empty room has seats for whoever comes first ...
        assert isinstance(newcomer, Admitted)
        # ... but the listeners playing keep theirs, and the waiter its place in line
        assert a.renew(first.seat, 5) is not None
        assert b.renew(second.seat, 5) is not None
        again = a.poll(waiter.token, 6)
        assert isinstance(again, Queued) and again.position == 1
        assert a.occupied == 3  # past the cap of 2 until someone leaves
        a.leave(first.seat, 7)
        a.leave(second.seat, 7)
        assert isinstance(a.poll(waiter.token, 8), Admitted)  # the line moves again
        assert b.renew("never-held", 9) is not None  # within one seat lifetime of the loss
        assert b.renew("never-held-2", 70) is None  # after it, only seats Redis holds renew
    finally:
        rooms.close()
        server.stop()

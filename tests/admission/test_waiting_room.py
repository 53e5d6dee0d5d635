"""The waiting room's rules, on both backends (`rooms`: this process's room, and the
cluster's in a real redis-server); the uncapped lifetimes are the in-process room's alone."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.admission.room_backends import Rooms
from townhall.admission.waiting_room import Admitted, Queued, Unknown, WaitingRoom


def test_without_a_cap_everyone_is_admitted(rooms: Rooms) -> None:
    r = rooms.make(cap=None)
    assert all(isinstance(r.join(0), Admitted) for _ in range(100))


def test_past_the_cap_joins_queue_in_arrival_order(rooms: Rooms) -> None:
    r = rooms.make(cap=2)
    assert isinstance(r.join(0), Admitted) and isinstance(r.join(0), Admitted)
    a, b, c = r.join(1), r.join(2), r.join(3)
    assert isinstance(a, Queued) and isinstance(b, Queued) and isinstance(c, Queued)
    assert (a.position, b.position, c.position) == (1, 2, 3)


def test_polling_keeps_a_place_and_rejoining_goes_to_the_back(rooms: Rooms) -> None:
    r = rooms.make(cap=1)
    r.join(0)
    first = r.join(1)
    second = r.join(2)
    assert isinstance(first, Queued) and isinstance(second, Queued)
    again = r.poll(first.token, 3)
    assert isinstance(again, Queued) and again.position == 1
    retry = r.join(4)  # retrying without the token does not help
    assert isinstance(retry, Queued) and retry.position == 3


def test_a_lapsed_seat_admits_the_head_of_the_queue_first(rooms: Rooms) -> None:
    r = rooms.make(cap=1, ttl=10, grace=30)
    r.join(0)
    head = r.join(1)
    tail = r.join(2)
    assert isinstance(head, Queued) and isinstance(tail, Queued)
    assert isinstance(r.poll(tail.token, 11), Queued)  # the seat lapsed, but it is head's
    assert isinstance(r.poll(head.token, 12), Admitted)


def test_renewed_seat_does_not_lapse(rooms: Rooms) -> None:
    r = rooms.make(cap=1, ttl=10)
    seat = r.join(0)
    assert isinstance(seat, Admitted)
    for t in range(5, 100, 5):
        assert r.renew(seat.seat, t) is not None
    assert isinstance(r.join(100), Queued)


def test_renewing_a_lapsed_seat_fails(rooms: Rooms) -> None:
    r = rooms.make(cap=1, ttl=10)
    seat = r.join(0)
    assert isinstance(seat, Admitted)
    assert r.renew(seat.seat, 11) is None


def test_a_queued_client_that_stops_polling_loses_its_place(rooms: Rooms) -> None:
    r = rooms.make(cap=1, grace=5)
    r.join(0)
    gone = r.join(1)
    stays = r.join(1)
    assert isinstance(gone, Queued) and isinstance(stays, Queued)
    r.poll(stays.token, 4)
    after = r.poll(stays.token, 8)
    assert isinstance(after, Queued) and after.position == 1
    assert isinstance(r.poll(gone.token, 8), Unknown)


def test_unknown_token_is_reported(rooms: Rooms) -> None:
    assert isinstance(rooms.make().poll("nope", 0), Unknown)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=1, max_value=20),
       st.lists(st.tuples(st.sampled_from(["join", "poll", "renew", "tick"]),
                          st.floats(min_value=0, max_value=5)), max_size=120))
def test_the_cap_is_never_exceeded_and_admission_is_fifo(rooms: Rooms, cap: int,
                                                        ops: list[tuple[str, float]]) -> None:
    r = rooms.make(cap, ttl=20, grace=1000)
    now = 0.0
    seats: list[str] = []
    queue: list[tuple[int, str]] = []  # (arrival order, token)
    arrivals = 0
    admitted_order: list[int] = []
    for op, dt in ops:
        now += dt
        if op == "join":
            out = r.join(now)
            arrivals += 1
            if isinstance(out, Admitted):
                seats.append(out.seat)
            elif isinstance(out, Queued):
                queue.append((arrivals, out.token))
        elif op == "poll":
            for order, token in list(queue):
                out = r.poll(token, now)
                if isinstance(out, Admitted):
                    admitted_order.append(order)
                    queue.remove((order, token))
                    seats.append(out.seat)
        elif op == "renew" and seats:
            r.renew(seats[0], now)
        else:
            r.tick(now)
        assert r.occupied <= cap
    assert admitted_order == sorted(admitted_order)


def test_an_uncapped_audience_gets_longer_seats_so_renewals_stay_within_budget() -> None:
    r = WaitingRoom(None, seat_ttl=120, poll_grace=10, seat_ttl_max=1800, renewals_per_s=500)
    first = r.join(0)
    assert isinstance(first, Admitted) and first.expires == 120  # small audience: the default
    for _ in range(99_999):
        r.join(0)
    last = r.join(0)
    assert isinstance(last, Admitted)
    assert last.expires >= 2 * 100_000 / 500  # 100k seats renewed at half life: <= 500/s
    for _ in range(900_000):
        r.join(0)
    big = r.join(0)
    assert isinstance(big, Admitted) and big.expires == 1800  # the ceiling


def test_a_capped_room_keeps_the_short_lifetime_whatever_the_audience() -> None:
    r = WaitingRoom(100_000, seat_ttl=120, poll_grace=10, seat_ttl_max=1800, renewals_per_s=5)
    outs = [r.join(0) for _ in range(1000)]
    assert all(isinstance(o, Admitted) and o.expires == 120 for o in outs)


@settings(max_examples=200)
@example([("join", 0.0)] * 3 + [("leave", 0.0)] * 2 + [("join", 0.0), ("tick", 11.0)])
@given(st.lists(st.tuples(st.sampled_from(["join", "renew", "leave", "tick"]),
                          st.floats(min_value=0, max_value=30)), max_size=150))
def test_growing_lifetimes_still_expire_every_lapsed_seat(ops: list[tuple[str, float]]) -> None:
    r = WaitingRoom(None, seat_ttl=10, poll_grace=5, seat_ttl_max=100, renewals_per_s=0.5)
    now = 0.0
    expiry: dict[str, float] = {}
    for op, dt in ops:
        now += dt
        if op == "join":
            out = r.join(now)
            assert isinstance(out, Admitted)
            expiry[out.seat] = out.expires
        elif op == "renew" and expiry:
            seat = min(expiry)
            renewed = r.renew(seat, now)
            if renewed is None:
                assert expiry[seat] <= now
                del expiry[seat]
            else:
                expiry[seat] = renewed.expires
        elif op == "leave" and expiry:
            seat = min(expiry, key=lambda k: expiry[k])  # the shortest-lived leaves
            r.leave(seat, now)
            del expiry[seat]
        else:
            r.tick(now)
        r.tick(now)
        live = {s for s, e in expiry.items() if e > now}
        assert r.occupied == len(live)  # a lapsed seat is never counted, a live one always

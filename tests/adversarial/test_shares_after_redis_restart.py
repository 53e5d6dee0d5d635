"""Per-network shares hold through a Redis that restarted empty (issue 18).

When Redis loses a capped space's room, each origin takes back, for one seat lifetime, the
seats of genuine tickets as their holders renew and the places it knew as their waiters poll.
Those used to come back without their network: a /24 that held its whole share got it again
on top, for up to one seat lifetime. Against a real redis-server restarted empty: two origins'
rooms (`RedisRoom`) on one Redis, a frozen clock; the seats come back counted in the network
the origin kept for them (or, for a seat it never saw, the network of whoever renews it), and
that network's next listener is refused its share, as before the restart. The same for seats
an origin admitted alone while Redis did not answer, written back when it answers again."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from redis.asyncio.client import Redis as RedisClient

from harness.cluster import Redis
from harness.server import free_port
from tests.adversarial.report import tally
from townhall.admission.waiting_room import Admitted, Queued, Refused, WaitingRoom
from townhall.cluster.redis_room import RedisRoom
from townhall.cluster.room_script import ROOM_LUA, room_keys

pytestmark = [pytest.mark.adversarial]
CAP, TTL, GRACE = 5, 120.0, 30.0
SHARE = 3  # ceil(5 x 0.5), floor 1
ATTACKER = [f"203.0.113.{i}" for i in range(1, 10)]  # one /24
OTHER = ["198.51.100.7", "198.51.100.8"]
WAITER = "192.0.2.50"


def _room(client: RedisClient, space: str) -> RedisRoom:
    local = WaitingRoom(CAP, TTL, GRACE, share_fraction=0.5, share_floor=1)
    return RedisRoom(client, client.register_script(ROOM_LUA), space, local)


async def _held(client: RedisClient, space: str) -> dict[str, int]:
    held_key = room_keys(space)[10]
    raw = await client.hgetall(held_key)  # type: ignore[misc]
    return {k.decode(): int(v) for k, v in raw.items()}


def test_seats_and_places_taken_back_after_redis_restarted_empty_keep_their_network(
        tmp_path: Path) -> None:
    server = Redis(free_port(), tmp_path / "redis")
    server.start()
    space = "rebuild-shares"

    async def scenario() -> None:
        ca, cb = RedisClient.from_url(server.url), RedisClient.from_url(server.url)
        a, b = _room(ca, space), _room(cb, space)
        try:
            mine = [await a.join(0, address) for address in ATTACKER[:SHARE]]
            assert all(isinstance(s, Admitted) for s in mine), mine
            refused = await a.join(0, ATTACKER[SHARE])
            assert isinstance(refused, Refused) and refused.reason == "network_share"
            theirs = [await b.join(0, address) for address in OTHER]
            assert all(isinstance(s, Admitted) for s in theirs)
            waiting = await b.join(1, WAITER)  # the room is full: a place in line
            assert isinstance(waiting, Queued) and waiting.position == 1
            await a.refresh(2)
            await b.refresh(2)

            server.stop()  # everything Redis held is gone
            server.start()
            for room in (a, b):  # the first call may find the old connection
                await room.refresh(3)
                await room.refresh(3)
            assert await _held(ca, space) == {}

            # the holders renew: two at the origin that admitted them (a standard player's
            # renewal names no address), one at the other origin, which never saw it
            seats = [s.seat for s in mine if isinstance(s, Admitted)]
            for seat in seats[:2]:
                assert await a.renew(seat, 5) is not None
            assert await b.renew(seats[2], 5, ATTACKER[2]) is not None
            for s in theirs:
                assert isinstance(s, Admitted) and await b.renew(s.seat, 5) is not None
            held = await _held(ca, space)
            assert held == {"203.0.113.0/24": SHARE, "198.51.100.0/24": 2}, held
            # the attacker's /24 holds its share again: its next listener is refused, on
            # either origin, as before the restart
            for room, address in ((a, ATTACKER[5]), (b, ATTACKER[6])):
                again = await room.join(6, address, wait=False)
                assert isinstance(again, Refused) and again.reason == "network_share", again
            # the waiter's place comes back in its own network, and so does its seat
            back = await b.poll(waiting.token, 7)
            assert isinstance(back, Queued), back
            await b.leave(theirs[0].seat, 8)  # type: ignore[union-attr]
            await b.leave(theirs[1].seat, 8)  # type: ignore[union-attr]
            seated = await a.poll(waiting.token, 9)
            assert isinstance(seated, Admitted), seated
            held = await _held(ca, space)
            assert held == {"203.0.113.0/24": SHARE, "192.0.2.0/24": 1}, held
        finally:
            await ca.aclose()
            await cb.aclose()

    try:
        tally("shares after Redis restarted empty", lambda: asyncio.run(scenario()))
    finally:
        server.stop()


def test_seats_admitted_while_redis_was_away_are_written_back_in_their_network(
        tmp_path: Path) -> None:
    server = Redis(free_port(), tmp_path / "redis")
    server.start()
    space = "outage-shares"

    async def scenario() -> None:
        client = RedisClient.from_url(server.url, socket_timeout=0.5,
                                      socket_connect_timeout=0.5)
        a = _room(client, space)
        try:
            other = await a.join(0, OTHER[0])
            assert isinstance(other, Admitted)
            await a.refresh(1)  # 4 seats free when Redis was last seen
            assert server.process is not None
            server.process.send_signal(signal.SIGSTOP)  # Redis stops answering
            try:
                alone = [await a.join(2, address) for address in ATTACKER[:2]]
                assert all(isinstance(s, Admitted) for s in alone), alone
                assert a.degraded >= 1
            finally:
                server.process.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.3)
            # a join that timed out may still have run in Redis once it woke (a seat nobody
            # holds, counted until it lapses): what the write-back adds is on top of that
            ghosts = (await _held(client, space)).get("203.0.113.0/24", 0)
            for s in alone:  # a standard player's renewal: no address
                assert isinstance(s, Admitted) and await a.renew(s.seat, 3) is not None
            held = await _held(client, space)
            assert held == {"203.0.113.0/24": ghosts + 2, "198.51.100.0/24": 1}, (ghosts, held)
            more = [await a.join(4, address, wait=False) for address in ATTACKER[2:6]]
            admitted = sum(isinstance(m, Admitted) for m in more)
            assert admitted == max(0, SHARE - ghosts - 2), (ghosts, more)  # its share, no more
            assert all(m.reason == "network_share" for m in more
                       if isinstance(m, Refused)), more
        finally:
            await client.aclose()

    try:
        tally("shares after Redis was away", lambda: asyncio.run(scenario()))
    finally:
        server.stop()

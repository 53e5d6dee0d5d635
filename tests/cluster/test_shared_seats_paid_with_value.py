"""The shared (Redis) waiting room keeps the in-process room's rules for a capped space's
seats (issue 18): a new seat is provisional until its holder comes back, one network holds
only its share, a share as large as the room binds nothing, and a newcomer who cannot wait
evicts an unproven seat before it is refused. Against a real redis-server: two `RedisRoom`s
(two origins' views) on one Redis with a frozen clock, the same operations fed to both rooms
side by side (hypothesis), and two real origins answering GETs of the entry URL."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio.client import Redis as RedisClient

from harness.cluster import Redis, cluster
from harness.server import free_port
from townhall.admission.waiting_room import Admitted, Outcome, Queued, Refused, WaitingRoom
from townhall.cluster.redis_room import RedisRoom
from townhall.cluster.room_script import ROOM_LUA

CAP, TTL, GRACE, PROVISIONAL = 40, 120.0, 20.0, 20.0


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = Redis(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


def local_room(cap: int = CAP, provisional_s: float = PROVISIONAL, fraction: float = 0.25,
               floor: int = 16, ttl: float = TTL, grace: float = GRACE) -> WaitingRoom:
    return WaitingRoom(cap, ttl, grace, provisional_s=provisional_s, share_fraction=fraction,
                       share_floor=floor)


class Origins:
    """Two origins' rooms for one space on one Redis (each its own client and script)."""

    def __init__(self, url: str, space: str, **room: float) -> None:
        self.clients = [RedisClient.from_url(url), RedisClient.from_url(url)]
        self.rooms = [RedisRoom(c, c.register_script(ROOM_LUA), space,
                                local_room(**room))  # type: ignore[arg-type]
                      for c in self.clients]

    async def close(self) -> None:
        for c in self.clients:
            await c.aclose()


def run(redis_server: Redis, space: str, scenario: object, **room: float) -> None:
    async def main() -> None:
        origins = Origins(redis_server.url, space, **room)
        try:
            await scenario(*origins.rooms)  # type: ignore[operator]
        finally:
            await origins.close()
    asyncio.run(main())


def test_35_joins_from_one_network_leave_room_for_ten_real_listeners_on_either_origin(
        redis_server: Redis) -> None:
    async def scenario(a: RedisRoom, b: RedisRoom) -> None:
        outs = [await (a if i % 2 else b).join(0.1 * i, "203.0.113.9", wait=False)
                for i in range(35)]
        assert sum(isinstance(o, Admitted) for o in outs) == 16  # its /24's share of 40
        assert {o.reason for o in outs if isinstance(o, Refused)} == {"network_share"}
        assert a.share_refused_total + b.share_refused_total == 19
        other = await b.join(4, "203.0.113.200", wait=False)  # same /24, another address
        assert isinstance(other, Refused) and other.reason == "network_share"
        real = [await (a, b)[i % 2].join(4, f"198.51.{i}.1", wait=False) for i in range(10)]
        assert all(isinstance(o, Admitted) for o in real), real
        await a.refresh(4)  # its numbers as the whole room is now
        assert a.occupied == 26 and a.provisional == 26

    run(redis_server, "share", scenario)


def test_a_shared_seat_is_provisional_until_its_holder_comes_back(
        redis_server: Redis) -> None:
    async def scenario(a: RedisRoom, b: RedisRoom) -> None:
        seat = await a.join(0, "198.51.100.1")
        assert isinstance(seat, Admitted) and seat.expires == PROVISIONAL
        assert await b.renew(seat.seat, 1) == Admitted(seat.seat, PROVISIONAL)  # too soon
        full = await b.renew(seat.seat, 10)  # it came back on the other origin: paid
        assert full == Admitted(seat.seat, 10 + TTL) and b.provisional == 0
        assert b.confirmed_total == 1
        never = await a.join(0, "198.51.100.2")
        assert isinstance(never, Admitted)
        assert await b.renew(never.seat, PROVISIONAL + 1) is None  # lapsed at 20 s, not 120
        assert b.occupied == 1

    run(redis_server, "provisional", scenario)


def test_a_full_shared_room_evicts_an_unproven_seat_of_the_busiest_network_first(
        redis_server: Redis) -> None:
    async def scenario(a: RedisRoom, b: RedisRoom) -> None:
        attacker = [await a.join(0.01 * i, f"203.0.{i % 3}.{i}", wait=False)
                    for i in range(37)]
        early = [await b.join(0.5, f"198.51.{i}.1", wait=False) for i in range(3)]
        assert all(isinstance(o, Admitted) for o in attacker + early) and b.occupied == 40
        for o in early:  # real players come back and pay: full seats
            assert isinstance(o, Admitted) and await a.renew(o.seat, 5) is not None
        newcomers = [await b.join(6, f"192.0.{i}.1", wait=False) for i in range(37)]
        assert all(isinstance(o, Admitted) for o in newcomers)
        assert b.evicted_total == 37 and b.occupied == 40
        for o in early:  # never evicted: paid
            assert isinstance(o, Admitted) and await b.renew(o.seat, 7) is not None
        for o in newcomers:
            assert isinstance(o, Admitted) and await a.renew(o.seat, 10) is not None
        # full of paid seats: a player is refused, a page's join waits in line
        assert await a.join(11, "100.64.0.1", wait=False) == Refused("full", PROVISIONAL)
        assert isinstance(await b.join(11, "100.64.0.1"), Queued)

    run(redis_server, "evict", scenario)


def test_a_household_filling_a_small_shared_room_waits_in_line(redis_server: Redis) -> None:
    async def scenario(a: RedisRoom, b: RedisRoom) -> None:
        assert isinstance(await a.join(0, "198.51.100.7"), Admitted)
        second = await b.join(1, "198.51.100.7")  # share 16 >= cap 1: binds nothing
        assert isinstance(second, Queued) and second.position == 1

    run(redis_server, "household", scenario, cap=1)


def kind(out: Outcome | None) -> str:
    if isinstance(out, Refused):
        return f"refused:{out.reason}"
    return "none" if out is None else type(out).__name__


OPS = st.lists(st.tuples(st.sampled_from(["player", "page", "poll", "renew", "leave"]),
                         st.integers(0, 11), st.integers(1, 16)), max_size=60)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(OPS)
def test_the_shared_room_answers_as_the_in_process_room_whatever_arrives(
        redis_server: Redis, ops: list[tuple[str, int, int]]) -> None:
    """Side by side, op for op: the same kind of answer, the same occupancy, provisional
    seats and line; the cap and every share hold (times are exact in binary)."""
    async def main() -> None:
        client = RedisClient.from_url(redis_server.url)
        await client.flushdb()
        shape = {"cap": 12, "ttl": 60.0, "grace": 10.0, "provisional_s": 10.0,
                 "fraction": 0.25, "floor": 3}
        local = local_room(**shape)  # type: ignore[arg-type]
        shared = RedisRoom(client, client.register_script(ROOM_LUA), "diff",
                           local_room(**shape))  # type: ignore[arg-type]
        now = 0.0
        seats: list[tuple[str, str]] = []  # (local seat, shared seat), same holder
        tokens: list[tuple[str, str]] = []
        try:
            for op, who, quarter in ops:
                now += quarter * 0.25
                address = f"10.{who % 4}.0.{who}"  # 12 addresses in 4 networks
                if op in ("player", "page"):
                    wait = op == "page"
                    x, y = local.join(now, address, wait), await shared.join(now, address, wait)
                elif op == "poll" and tokens:
                    lt, st_ = tokens[who % len(tokens)]
                    x, y = local.poll(lt, now), await shared.poll(st_, now)
                elif op == "renew" and seats:
                    ls, ss = seats[who % len(seats)]
                    x, y = local.renew(ls, now), await shared.renew(ss, now)
                elif op == "leave" and seats:
                    ls, ss = seats.pop(who % len(seats))
                    local.leave(ls, now)
                    await shared.leave(ss, now)
                    x = y = None
                else:
                    continue
                assert kind(x) == kind(y), (op, x, y)
                if isinstance(x, Admitted) and isinstance(y, Admitted):
                    assert x.expires == y.expires
                    if op in ("player", "page", "poll"):
                        seats.append((x.seat, y.seat))
                if isinstance(x, Queued) and isinstance(y, Queued) and op != "poll":
                    tokens.append((x.token, y.token))
                await shared.refresh(now)
                local.tick(now)
                assert (shared.occupied, shared.provisional, shared.queued) == (
                    local.occupied, local.provisional, local.queued)
                assert shared.occupied <= 12
                held = await client.hgetall("townhall:room:{diff}:held")
                assert all(int(n) <= 3 for n in held.values()), held
        finally:
            await client.aclose()

    asyncio.run(main())


@pytest.mark.slow
def test_gets_of_the_entry_url_on_two_origins_leave_real_listeners_their_seats(
        tmp_path: Path) -> None:
    with cluster(tmp_path, 2, free_port(), "--attack-mode", "off",
                 "--set", "join_burst_per_address=100",
                 "--set", "join_burst_per_network=1000") as c:
        a, b = c.origins
        sid = a.create_space(listener_cap=40)["id"]

        def entry(base: str, address: str) -> int:
            return httpx.get(f"{base}/live/{sid}/master.m3u8", timeout=10,
                             headers={"X-Real-IP": address},
                             follow_redirects=False).status_code

        flood = Counter(entry((a, b)[i % 2].base_url, "203.0.113.9") for i in range(35))
        assert flood == {302: 16, 429: 19}, flood  # one /24's share of 40, cluster-wide
        real = [entry((a, b)[i % 2].base_url, f"198.51.{i}.7") for i in range(10)]
        assert real == [302] * 10, real
        # the rest filled by GETs that never come back: newcomers evict them, on either origin
        for i in range(14):
            assert entry(a.base_url, f"100.{64 + i}.0.1") == 302
        late = [entry(b.base_url, f"198.18.{i}.1") for i in range(5)]
        assert late == [302] * 5, late
        metrics = [httpx.get(f"{o.base_url}/api/admin/metrics", timeout=10,
                             headers=o.hosting_headers()).json() for o in (a, b)]
        assert sum(m["counters"]["seats_evicted"] for m in metrics) >= 5

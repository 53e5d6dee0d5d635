"""Lapsed tickets straight at an origin (live/joins/player_tickets.py LapsedTickets), with the
real ticket signer and a room that counts renewals: requests under one lapsed ticket share
one renewal per ticket lifetime (concurrent ones included), a seat gone is answered 403
seat_gone and kept, a revoked seat is refused at once, and past `max_tickets` the oldest
live answer is dropped and counted, costing one more renewal, never an error."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from townhall.admission.tickets import TicketSigner
from townhall.admission.waiting_room import Admitted
from townhall.live.errors import SpaceError
from townhall.live.joins.player_tickets import LapsedTickets
from townhall.settings import Settings

SID = "abcdefghij"


class Room:
    seat_ttl = 10.0

    def __init__(self) -> None:
        self.held: set[str] = set()
        self.renewals = 0

    async def renew(self, seat: str, now: float) -> Admitted | None:
        self.renewals += 1
        await asyncio.sleep(0.01)  # a shared room answers over the network
        return Admitted(seat, now + self.seat_ttl) if seat in self.held else None


def _setup(max_tickets: int = 100) -> tuple[Any, Any, LapsedTickets, TicketSigner]:
    signer = TicketSigner("s" * 32)
    adm = SimpleNamespace(signer=signer, revoked={}, counters={},
                          settings=Settings.of(seat_ttl_s=10, ticket_grace_s=5),
                          listening=SimpleNamespace(seen=lambda *a: None))
    space = SimpleNamespace(record=SimpleNamespace(id=SID), room=Room())
    grants = SimpleNamespace(renew_lapsed=lambda *a: None)  # no grant seats here
    return adm, space, LapsedTickets(adm, grants, max_tickets), signer  # type: ignore[arg-type]


def test_one_renewal_per_lifetime_for_concurrent_and_later_requests() -> None:
    adm, space, lapsed, signer = _setup()
    space.room.held.add("seat1")
    ticket = str(signer.issue(SID, "seat1", 100))

    async def run() -> None:
        await asyncio.gather(*[lapsed.admit(space, ticket, 101.0) for _ in range(5)])
        assert space.room.renewals == 1  # one flight for five requests
        await lapsed.admit(space, ticket, 105.9)  # within the lifetime (5 s): kept
        assert space.room.renewals == 1
        await lapsed.admit(space, ticket, 106.1)  # the next lifetime: renewed again
        assert space.room.renewals == 2

    asyncio.run(run())
    assert adm.counters["player_renewed"] == 2


def test_a_seat_gone_is_refused_and_kept_and_a_revoked_one_refused_at_once() -> None:
    adm, space, lapsed, signer = _setup()
    gone = str(signer.issue(SID, "left", 100))
    space.room.held.add("shared")
    shared = str(signer.issue(SID, "shared", 100))

    async def run() -> None:
        for _ in range(3):
            with pytest.raises(SpaceError) as err:
                await lapsed.admit(space, gone, 101.0)
            assert (err.value.status, err.value.code) == (403, "seat_gone")
        assert space.room.renewals == 1
        await lapsed.admit(space, shared, 101.0)
        adm.revoked[SID] = {"shared"}
        with pytest.raises(SpaceError) as err:
            await lapsed.admit(space, shared, 101.5)
        assert err.value.code == "ticket_revoked"

    asyncio.run(run())


def test_past_max_tickets_the_oldest_answer_is_dropped_and_counted() -> None:
    adm, space, lapsed, signer = _setup(max_tickets=2)
    tickets = []
    for n in range(3):
        space.room.held.add(f"seat{n}")
        tickets.append(str(signer.issue(SID, f"seat{n}", 100)))

    async def run() -> None:
        for t in tickets:
            await lapsed.admit(space, t, 101.0)
        await lapsed.admit(space, tickets[0], 101.5)  # dropped: renewed again, still served

    asyncio.run(run())
    assert space.room.renewals == 4
    assert adm.counters["player_lapsed_dropped"] == 2


def test_lapsed_answers_are_let_go_as_new_ones_come_uncounted() -> None:
    adm, space, lapsed, signer = _setup(max_tickets=100)
    for n in range(5):
        space.room.held.add(f"seat{n}")

    async def run() -> None:
        for n in range(4):
            await lapsed.admit(space, str(signer.issue(SID, f"seat{n}", 100)), 101.0)
        # a lifetime later, the next renewal lets the four lapsed answers go
        await lapsed.admit(space, str(signer.issue(SID, "seat4", 100)), 120.0)

    asyncio.run(run())
    assert len(lapsed._kept) == 1
    assert "player_lapsed_dropped" not in adm.counters  # nothing live was dropped

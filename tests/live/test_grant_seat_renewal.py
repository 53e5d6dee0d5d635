"""A grant seat's lapsed ticket (a page or the load generator joined with the details' join
grant, on any origin) plays on as a waiting room seat's does
(live/joins/grant_admission.py `renew_lapsed`): renewed while held here; unknown here (another
origin admitted it, or this one restarted) renewed while the space gives grants and the seat
would still be held; given back here, gone; and served by `LapsedTickets` at its own URL."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from townhall.admission.seat_count import SeatCount
from townhall.admission.tickets import TicketSigner
from townhall.live.errors import SpaceError
from townhall.live.joins.grant_admission import GrantAdmission
from townhall.live.joins.player_tickets import LapsedTickets
from townhall.settings import Settings
from townhall.space.lifecycle import Phase

SID = "abcdefghij"
NOW = 1_800_000_000.0


class Room:
    seat_ttl = 10.0

    async def renew(self, seat: str, now: float) -> None:
        raise AssertionError("a grant seat is not the waiting room's")


def _setup(attack: bool = False, cap: int | None = None) -> tuple[Any, Any, GrantAdmission]:
    settings = Settings.of(seat_ttl_s=10, seat_ttl_max_s=60, ticket_grace_s=5)
    adm = SimpleNamespace(signer=TicketSigner("s" * 32), revoked={}, counters={},
                          settings=settings, listening=SimpleNamespace(seen=lambda *a: None),
                          attack=SimpleNamespace(active=lambda now: attack))
    space = SimpleNamespace(record=SimpleNamespace(id=SID, listener_cap=cap, phase=Phase.LIVE),
                            room=Room())
    spaces = SimpleNamespace(listeners_now=lambda space, now: 1)
    grants = GrantAdmission(settings, spaces, adm, SimpleNamespace(origin="o1"))  # type: ignore[arg-type]
    return adm, space, grants


def test_a_held_grant_seat_is_renewed_and_one_given_back_here_is_gone() -> None:
    _, space, grants = _setup()
    grants.seats[SID] = SeatCount()
    grants.seats[SID].hold("gaaaa", NOW + 10, NOW)
    renewed = grants.renew_lapsed(space, "gaaaa", int(NOW + 5), NOW + 6)
    assert renewed is not None and renewed.expires == NOW + 16
    grants.leave(SID, "gaaaa", NOW + 7)
    assert grants.renew_lapsed(space, "gaaaa", int(NOW + 5), NOW + 7.5) is None
    assert not grants.seats[SID].idle(NOW + 8)  # remembered as gone, not forgotten


def test_given_back_seats_are_remembered_up_to_a_bound_oldest_forgotten_first() -> None:
    seats = SeatCount(gone_max=2)
    for n, seat in enumerate(("ga", "gb", "gc")):
        seats.leave(seat, NOW + 100 + n)
    assert [seats.gone(s, NOW) for s in ("ga", "gb", "gc")] == [False, True, True]


def test_an_unknown_grant_seat_is_renewed_only_while_it_would_be_held_and_grants_are_given(
        ) -> None:
    _, space, grants = _setup()
    # lapsed 4 s ago: a seat outlives its ticket by min(grace 5, lifetime 10 / 2) = 5 s
    assert grants.renew_lapsed(space, "gbbbb", int(NOW), NOW + 4) is not None
    assert grants.seats[SID].held("gbbbb", NOW + 5)  # counted here from now on
    assert grants.renew_lapsed(space, "gcccc", int(NOW), NOW + 6) is None  # past it
    for attack, cap in ((True, None), (False, 100)):  # no grants: attack mode, a capped space
        _, space, grants = _setup(attack, cap)
        assert grants.renew_lapsed(space, "gdddd", int(NOW), NOW + 1) is None


def test_lapsed_tickets_serve_a_grant_seat_at_its_own_url_until_it_is_given_back() -> None:
    adm, space, grants = _setup()
    lapsed = LapsedTickets(adm, grants, 100)
    ticket = str(adm.signer.issue(SID, "geeee", int(NOW)))

    async def run() -> None:
        await lapsed.admit(space, ticket, NOW + 1)  # served: the seat renewed here
        assert adm.counters["player_renewed"] == 1
        grants.leave(SID, "geeee", NOW + 2)
        with pytest.raises(SpaceError) as err:  # a lifetime later the kept answer is asked again
            await lapsed.admit(space, ticket, NOW + 20)
        assert (err.value.status, err.value.code) == (403, "seat_gone")

    asyncio.run(run())

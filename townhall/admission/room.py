"""The interface the services use for a space's seats and waiting room, and its in-process
adapter.

`Room` is what `live.joins.admissions` and friends call: join, poll, renew and leave are async
(a shared room answers from Redis); the numbers (`cap`, `occupied`, `queued`) are sync and may
be a moment old in a shared room (they are what the last call or `refresh` saw). `LocalRoom`
wraps the sans-IO `WaitingRoom` of this process (the embedded default, and every uncapped
space). The cluster picks the adapter (`Cluster.room`); services never branch on it.
"""

from __future__ import annotations

from typing import Protocol

from townhall.admission.waiting_room import Admitted, Outcome, WaitingRoom


class Room(Protocol):
    cap: int | None
    seat_ttl: float  # the lifetime a seat is granted now
    degraded: int  # calls answered without the shared state (Redis away): counted, logged

    @property
    def occupied(self) -> int:
        """Seats held or granted, in the whole room (cluster-wide when shared)."""

    @property
    def queued(self) -> int:
        """Places in line, in the whole room."""

    @property
    def unshared_occupied(self) -> int:
        """The seats only this origin knows of (it reports them to the others)."""

    @property
    def provisional(self) -> int:
        """Seats not yet paid for, in the whole room (a gauge)."""

    @property
    def confirmed_total(self) -> int:
        """Provisional seats whose holder came back, through this origin."""

    @property
    def evicted_total(self) -> int:
        """Provisional seats given to a newcomer in a full room, at this origin."""

    async def join(self, now: float, address: str = "", wait: bool = True) -> Outcome:
        """A newcomer from `address` ("": unknown) asks in; `wait` False: never a place in
        line (a full room answers `Refused`)."""

    async def poll(self, token: str, now: float) -> Outcome: ...

    async def renew(self, seat: str, now: float, address: str = "") -> Admitted | None:
        """Extend a held seat (None: it lapsed). `address`: who renews it, the network a
        shared room counts a seat in when it lost the seat's own (Redis restarted empty)."""

    async def leave(self, seat: str, now: float) -> None: ...

    def tick(self, now: float) -> None:
        """Expire what lapsed by `now` where that costs no I/O (a shared room: nothing)."""

    async def refresh(self, now: float) -> None:
        """Bring the numbers up to date (a shared room asks Redis; may raise nothing)."""


class LocalRoom:
    """This process's room, in memory."""

    def __init__(self, room: WaitingRoom) -> None:
        self.room = room
        self.degraded = 0  # never: nothing shared to miss

    @property
    def cap(self) -> int | None:
        return self.room.cap

    @cap.setter
    def cap(self, value: int | None) -> None:
        self.room.cap = value

    @property
    def seat_ttl(self) -> float:
        return self.room.seat_ttl

    @seat_ttl.setter
    def seat_ttl(self, value: float) -> None:
        self.room.seat_ttl = value

    @property
    def occupied(self) -> int:
        return self.room.occupied

    @property
    def queued(self) -> int:
        return self.room.queued

    @property
    def unshared_occupied(self) -> int:
        return self.room.occupied

    @property
    def provisional(self) -> int:
        return self.room.provisional

    @property
    def confirmed_total(self) -> int:
        return self.room.confirmed_total

    @property
    def evicted_total(self) -> int:
        return self.room.evicted_total

    async def join(self, now: float, address: str = "", wait: bool = True) -> Outcome:
        return self.room.join(now, address, wait)

    async def poll(self, token: str, now: float) -> Outcome:
        return self.room.poll(token, now)

    async def renew(self, seat: str, now: float, address: str = "") -> Admitted | None:
        return self.room.renew(seat, now)  # this process's room never loses a seat's network

    async def leave(self, seat: str, now: float) -> None:
        self.room.leave(seat, now)

    def tick(self, now: float) -> None:
        self.room.tick(now)

    async def refresh(self, now: float) -> None:
        self.room.tick(now)

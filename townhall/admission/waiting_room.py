"""Seats and the waiting room for one space: the listener cap, kept, first come first served.

Sans-IO, O(1) per call. A seat is held while its ticket is renewed; a seat whose ticket
lapses frees up and goes to the head of the queue. The queue is FIFO by arrival: polling with
the same token keeps a place, a new join without one goes to the back, so retrying never
helps. A queued client that stops polling loses its place after `poll_grace` seconds; a seat
granted to a waiting client is held for it for `poll_grace` seconds.

Without a cap, a seat only counts a listener, so its lifetime may grow with the audience to
keep renewals within `renewals_per_s` (renewed at half the lifetime: lifetime >=
2 * seats / budget), up to `seat_ttl_max`. It never shrinks, so expiry order stays insertion
order; with a cap the lifetime stays `seat_ttl` (a departed listener's seat must free up soon).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Admitted:
    seat: str
    expires: float


@dataclass(frozen=True)
class Queued:
    token: str
    position: int  # 1 = next in line
    eta_s: float | None  # None until seats have been seen freeing up


@dataclass(frozen=True)
class Unknown:
    reason: str


Outcome = Admitted | Queued | Unknown


def renewal_lifetime(seats: float, shortest: float, longest: float,
                     renewals_per_s: float) -> float:
    """The seat lifetime that keeps `seats` renewals (each at half its lifetime) within
    `renewals_per_s`, between `shortest` and `longest`."""
    return max(shortest, min(longest, 2 * seats / renewals_per_s))


def _new_id() -> str:
    return secrets.token_hex(8)


class WaitingRoom:
    def __init__(self, cap: int | None, seat_ttl: float, poll_grace: float,
                 max_queue: int = 10_000_000, *, seat_ttl_max: float | None = None,
                 renewals_per_s: float | None = None) -> None:
        self.cap = cap
        self.seat_ttl = seat_ttl
        self.seat_ttl_max = max(seat_ttl, seat_ttl_max or seat_ttl)
        self.renewals_per_s = renewals_per_s
        self.poll_grace = poll_grace
        self.max_queue = max_queue
        self._seats: OrderedDict[str, float] = OrderedDict()  # seat -> expiry, by expiry order
        self._queue: deque[str] = deque()  # tokens in arrival order
        self._waiting: dict[str, tuple[int, float]] = {}  # token -> (serial, last poll)
        self._granted: dict[str, tuple[str, float]] = {}  # token -> (seat, hold expiry)
        self._serial = 0
        self._head_serial = 0  # serial of the earliest still-waiting token
        self._freed_times: deque[float] = deque(maxlen=256)
        self.admitted_total = 0

    # --- what the numbers are ---
    @property
    def occupied(self) -> int:
        return len(self._seats) + len(self._granted)

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def _lifetime(self) -> float:
        """The seat lifetime to grant now (grows with an uncapped audience, never shrinks)."""
        if self.cap is None and self.renewals_per_s:
            self.seat_ttl = renewal_lifetime(len(self._seats) + 1, self.seat_ttl,
                                             self.seat_ttl_max, self.renewals_per_s)
        return self.seat_ttl

    def _has_room(self) -> bool:
        return self.cap is None or self.occupied < self.cap

    # --- calls ---
    def join(self, now: float) -> Outcome:
        """A listener without a place asks in."""
        self.tick(now)
        if not self._queue and self._has_room():
            return self._seat(now)
        if len(self._waiting) >= self.max_queue:
            return Unknown("the waiting room is full; try again later")
        token = _new_id()
        self._serial += 1
        self._waiting[token] = (self._serial, now)
        self._queue.append(token)
        self._promote(now)
        return self._status(token, now)

    def poll(self, token: str, now: float) -> Outcome:
        """A waiting listener asks where it stands; keeps its place."""
        self.tick(now)
        granted = self._granted.pop(token, None)
        if granted is not None:
            seat = granted[0]
            expires = now + self._lifetime()
            self._seats[seat] = expires
            self.admitted_total += 1
            return Admitted(seat, expires)
        if token not in self._waiting:
            return Unknown("no such place in the queue (expired or never issued); join again")
        serial, _ = self._waiting[token]
        self._waiting[token] = (serial, now)
        return self._status(token, now)

    def renew(self, seat: str, now: float) -> Admitted | None:
        """Extend a held seat; None if it lapsed (the listener must join again)."""
        self.tick(now)
        if seat not in self._seats:
            return None
        self._seats.pop(seat)
        expires = now + self._lifetime()
        self._seats[seat] = expires  # re-insert keeps expiry order (lifetimes never shrink)
        return Admitted(seat, expires)

    def leave(self, seat: str, now: float) -> None:
        if self._seats.pop(seat, None) is not None:
            self._freed_times.append(now)
        self._promote(now)

    def withdraw(self, token: str) -> bool:
        """Take a waiting place out of the line (it moves to another room); False if unknown."""
        return self._waiting.pop(token, None) is not None

    def set_cap(self, cap: int | None, now: float) -> None:
        self.cap = cap
        self._promote(now)

    def tick(self, now: float) -> None:
        """Expire lapsed seats, stale queue places and unclaimed grants; admit the next."""
        while self._seats:
            seat, expiry = next(iter(self._seats.items()))
            if expiry > now:
                break
            del self._seats[seat]
            self._freed_times.append(now)
        for token, (_seat, hold) in list(self._granted.items()):
            if hold <= now:
                del self._granted[token]
                self._freed_times.append(now)
        while self._queue:
            token = self._queue[0]
            entry = self._waiting.get(token)
            if entry is not None and entry[1] + self.poll_grace > now:
                break
            self._queue.popleft()
            self._waiting.pop(token, None)
        self._promote(now)

    # --- internals ---
    def _seat(self, now: float) -> Admitted:
        seat = _new_id()
        expires = now + self._lifetime()
        self._seats[seat] = expires
        self.admitted_total += 1
        return Admitted(seat, expires)

    def _promote(self, now: float) -> None:
        while self._queue and self._has_room():
            token = self._queue.popleft()
            entry = self._waiting.pop(token, None)
            if entry is None:
                continue  # left the queue
            self._head_serial = entry[0]
            self._granted[token] = (_new_id(), now + self.poll_grace)
        if self._queue:
            first = self._waiting.get(self._queue[0])
            if first is not None:
                self._head_serial = first[0]

    def _status(self, token: str, now: float) -> Outcome:
        if token in self._granted:
            return self.poll(token, now)
        serial, _ = self._waiting[token]
        position = max(1, serial - self._head_serial + 1)
        return Queued(token, position, self._eta(position, now))

    def _eta(self, position: int, now: float) -> float | None:
        recent = [t for t in self._freed_times if t > now - 60]
        if len(recent) < 2:
            return None
        rate = len(recent) / max(1.0, now - recent[0])
        return round(position / rate, 1)

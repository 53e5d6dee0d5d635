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

With a cap, seats are a scarce pool and are paid with value, not with a request (issue 18: 35
GETs of the entry URL held 35 of 40 seats for 120 s each):
- a new seat is *provisional* for `provisional_s`: it becomes a full seat only when its holder
  comes back to renew it at least a fifth of that later (a player that kept playing comes
  back with its lapsed ticket; the page renews at half its ticket's life); a request that
  never comes back holds a seat for `provisional_s`, not `seat_ttl`;
- one network (`admission.shares`: a /24 or /64) holds at most its share of the cap
  (`share_fraction` of it, at least `share_floor`); past it a join is `Refused`;
- when the room is full, a newcomer that would be refused (`wait` False: a standard player
  at the entry URL, which cannot wait in line) evicts a provisional seat (of the network
  holding the most seats, then the oldest); one that may wait takes its place in the line,
  whose order is kept. Full seats are never evicted.
Provisional seats all live `provisional_s`, so they too lapse in insertion order.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass

from townhall.admission.shares import network_share, share_key

EVICTION_SCAN = 256  # provisional seats looked at, oldest first, to pick whom to evict


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


@dataclass(frozen=True)
class Refused:
    reason: str  # "network_share": this network holds its share; "full": no seat, no line
    retry_after_s: float


Outcome = Admitted | Queued | Unknown | Refused


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
                 renewals_per_s: float | None = None, provisional_s: float | None = None,
                 share_fraction: float = 1.0, share_floor: int = 1) -> None:
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
        self.provisional_s = provisional_s  # None: seats are full at once
        self.share_fraction = share_fraction
        self.share_floor = share_floor
        self._provisional: OrderedDict[str, float] = OrderedDict()  # seat -> expiry
        self._network: dict[str, str] = {}  # seat or waiting token -> its network
        self._held: dict[str, int] = {}  # network -> seats it holds (provisional or full)
        self.confirmed_total = 0  # provisional seats whose holder came back
        self.evicted_total = 0  # provisional seats given to a newcomer in a full room
        self.share_refused_total = 0  # joins refused: their network held its share

    # --- what the numbers are ---
    @property
    def occupied(self) -> int:
        return len(self._seats) + len(self._provisional) + len(self._granted)

    @property
    def provisional(self) -> int:
        """Seats not yet paid for: their holder has not come back since joining."""
        return len(self._provisional)

    def network_share(self) -> int | None:
        """How many seats one network may hold (None: no cap, no share)."""
        if self.cap is None:
            return None
        return network_share(self.cap, self.share_fraction, self.share_floor)

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
    def join(self, now: float, address: str = "", wait: bool = True) -> Outcome:
        """A listener without a place asks in, from `address` ("": unknown, counted in no
        share). With `wait` False a full room answers `Refused("full")`, never a place."""
        self.tick(now)
        net = share_key(address) if address and self.cap is not None else ""
        share = self.network_share()
        # a share as large as the pool binds nothing (a small room, or a household filling
        # it): that network's next listener waits in line like anyone else
        if (net and share is not None and self.cap is not None and share < self.cap
                and self._held.get(net, 0) >= share):
            self.share_refused_total += 1
            return Refused("network_share", self._retry_after())
        # a newcomer who would be refused (no line for it) evicts an unproven seat; one who
        # may wait takes a place in the FIFO line instead (the line's order is kept)
        if not self._queue and (self._has_room() or (not wait and self._evict())):
            return self._seat(now, net)
        if not wait:
            return Refused("full", self._retry_after())
        if len(self._waiting) >= self.max_queue:
            return Unknown("the waiting room is full; try again later")
        token = _new_id()
        self._serial += 1
        self._waiting[token] = (self._serial, now)
        if net:
            self._network[token] = net
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
            self._seats[seat] = expires  # it waited in line, polling: a full seat
            self._hold(seat, self._network.pop(token, ""))
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
        if seat in self._provisional:
            assert self.provisional_s is not None
            expiry = self._provisional[seat]
            if now < expiry - self.provisional_s * 0.8:
                return Admitted(seat, expiry)  # too soon to have played: still provisional
            del self._provisional[seat]
            self.confirmed_total += 1
        elif seat in self._seats:
            self._seats.pop(seat)
        else:
            return None
        expires = now + self._lifetime()
        self._seats[seat] = expires  # re-insert keeps expiry order (lifetimes never shrink)
        return Admitted(seat, expires)

    def leave(self, seat: str, now: float) -> None:
        if (self._seats.pop(seat, None) is not None
                or self._provisional.pop(seat, None) is not None):
            self._release(seat)
            self._freed_times.append(now)
        self._promote(now)

    def withdraw(self, token: str) -> bool:
        """Take a waiting place out of the line (it moves to another room); False if unknown."""
        self._network.pop(token, None)
        return self._waiting.pop(token, None) is not None

    def set_cap(self, cap: int | None, now: float) -> None:
        self.cap = cap
        self._promote(now)

    def tick(self, now: float) -> None:
        """Expire lapsed seats, stale queue places and unclaimed grants; admit the next."""
        for seats in (self._seats, self._provisional):
            while seats:
                seat, expiry = next(iter(seats.items()))
                if expiry > now:
                    break
                del seats[seat]
                self._release(seat)
                self._freed_times.append(now)
        for token, (_seat, hold) in list(self._granted.items()):
            if hold <= now:
                del self._granted[token]
                self._network.pop(token, None)
                self._freed_times.append(now)
        while self._queue:
            token = self._queue[0]
            entry = self._waiting.get(token)
            if entry is not None and entry[1] + self.poll_grace > now:
                break
            self._queue.popleft()
            self._waiting.pop(token, None)
            self._network.pop(token, None)
        self._promote(now)

    # --- internals ---
    def _seat(self, now: float, net: str = "") -> Admitted:
        seat = _new_id()
        if self.cap is not None and self.provisional_s:
            expires = now + min(self.provisional_s, self._lifetime())
            self._provisional[seat] = expires
        else:
            expires = now + self._lifetime()
            self._seats[seat] = expires
        self._hold(seat, net)
        self.admitted_total += 1
        return Admitted(seat, expires)

    def _hold(self, seat: str, net: str) -> None:
        if net:
            self._network[seat] = net
            self._held[net] = self._held.get(net, 0) + 1

    def _release(self, seat: str) -> None:
        net = self._network.pop(seat, None)
        if net is not None:
            left = self._held.get(net, 0) - 1
            if left > 0:
                self._held[net] = left
            else:
                self._held.pop(net, None)

    def _evict(self) -> bool:
        """Free a provisional seat for a newcomer: of the network holding the most seats
        among the oldest `EVICTION_SCAN`, the oldest. False if none is provisional."""
        victim, most = None, -1
        for i, seat in enumerate(self._provisional):
            if i >= EVICTION_SCAN:
                break
            held = self._held.get(self._network.get(seat, ""), 0)
            if held > most:
                victim, most = seat, held
        if victim is None:
            return False
        del self._provisional[victim]
        self._release(victim)
        self.evicted_total += 1
        return True

    def _retry_after(self) -> float:
        return max(1.0, min(30.0, self.provisional_s or self.poll_grace))

    def _promote(self, now: float) -> None:
        while self._queue and self._has_room():
            token = self._queue.popleft()
            entry = self._waiting.pop(token, None)
            if entry is None:
                self._network.pop(token, None)
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

"""Seats issued against join grants, counted until they lapse; and other origins' counts.

Sans-IO. No cap, so no queue: a seat is held until its expiry, renewed by a later expiry. The
lifetime comes with each seat (the grant's), and only grows for a space, so expiries stay in
insertion order and lapsed seats are dropped from the front, O(1) each. A seat given back is
remembered as gone for a while (`leave(seat, forget_at)`), so its lapsed ticket is not
renewed after it (live/joins/grant_admission.py `renew_lapsed`).
`Audience` keeps the latest count each origin reported for a space, fresh for `fresh_s`.
"""

from __future__ import annotations

from collections import OrderedDict

GRANT_SEAT_PREFIX = "g"  # grant seats are "g" + hex; a waiting room's seats are hex alone


def is_grant_seat(seat: str) -> bool:
    return seat.startswith(GRANT_SEAT_PREFIX)


class SeatCount:
    def __init__(self, gone_max: int = 200_000) -> None:
        self._seats: OrderedDict[str, float] = OrderedDict()  # seat -> expiry
        self._gone: OrderedDict[str, float] = OrderedDict()  # given back -> forgotten at
        self.gone_max = gone_max  # past it the oldest given-back seat is forgotten first

    def hold(self, seat: str, expires: float, now: float) -> None:
        self._seats.pop(seat, None)
        self._seats[seat] = expires
        self.tick(now)

    def tick(self, now: float) -> None:
        while self._seats:
            seat, expiry = next(iter(self._seats.items()))
            if expiry > now:
                return
            del self._seats[seat]

    def leave(self, seat: str, forget_at: float = 0.0) -> None:
        """The seat given back; it counts as gone until `forget_at` (later calls give later
        times, so the oldest is forgotten first)."""
        self._seats.pop(seat, None)
        if forget_at > 0:
            self._gone.pop(seat, None)
            self._gone[seat] = forget_at
            while len(self._gone) > self.gone_max:  # a crowd leaving at once: bounded
                self._gone.popitem(last=False)

    def held(self, seat: str, now: float) -> bool:
        expiry = self._seats.get(seat)
        return expiry is not None and expiry > now

    def idle(self, now: float) -> bool:
        """No seat held and none remembered as gone: nothing to keep."""
        self._forget(now)
        return self.count(now) == 0 and not self._gone

    def gone(self, seat: str, now: float) -> bool:
        """Given back here, and not yet forgotten."""
        self._forget(now)
        return seat in self._gone

    def _forget(self, now: float) -> None:
        while self._gone:
            first, until = next(iter(self._gone.items()))
            if until > now:
                return
            del self._gone[first]

    def count(self, now: float) -> int:
        self.tick(now)
        return len(self._seats)


class Audience:
    """Listener counts of one space reported by origins (by name), each fresh for a while."""

    def __init__(self, fresh_s: float) -> None:
        self.fresh_s = fresh_s
        self._reports: dict[str, tuple[int, float]] = {}  # origin -> (count, reported at)

    def report(self, origin: str, count: int, at: float) -> None:
        old = self._reports.get(origin)
        if old is None or at >= old[1]:
            self._reports[origin] = (max(0, count), at)

    def total(self, now: float) -> int:
        for origin, (_, at) in list(self._reports.items()):
            if at < now - self.fresh_s:
                del self._reports[origin]
        return sum(count for count, _ in self._reports.values())

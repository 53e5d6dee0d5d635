"""Seats issued against join grants, counted until they lapse; and other origins' counts.

Sans-IO. No cap, so no queue: a seat is held until its expiry, renewed by a later expiry. The
lifetime comes with each seat (the grant's), and only grows for a space, so expiries stay in
insertion order and lapsed seats are dropped from the front, O(1) each.
`Audience` keeps the latest count each origin reported for a space, fresh for `fresh_s`.
"""

from __future__ import annotations

from collections import OrderedDict


class SeatCount:
    def __init__(self) -> None:
        self._seats: OrderedDict[str, float] = OrderedDict()  # seat -> expiry

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

    def leave(self, seat: str) -> None:
        self._seats.pop(seat, None)

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

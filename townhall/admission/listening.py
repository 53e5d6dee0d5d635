"""How long each seat listened, from its tickets: granted, renewed, given back. Core, no I/O.

With tickets on, the origin never sees a listener's media (the edge serves it), but it sees
every seat's tickets: the join that granted the seat, each renewal (the page renews at half
its ticket's life; a standard player comes back with its lapsed ticket and is redirected
with a fresh one, `live/joins/player_tickets.py`), and a page's leave. That is enough to
bound when a listener stopped, for players that run none of our code:

- a seat given back stopped then;
- otherwise it stopped after its last renewal `last`, and before it would have renewed next:
  `last + gap`, where `gap` is the last interval between two of its renewals (a player
  reloading a lapsed URL straight at an origin renews every reload; behind an edge, once per
  ticket step; a page, at half its ticket's life), or its ticket's expiry `until` when it
  never renewed. The estimate is the middle of that window, so the error of each seat, and
  of the median, is at most half of it (half the renewal interval), and never past the
  space's end;
- a seat whose next renewal is not yet overdue is still listening: counted up to `now`.

`ListeningLog` is what one origin saw; origins write theirs to the store on the analytics timer
(changed seats only) and the rows are merged there (`merge`). Bounded: `max_seats` per space,
past which seats are counted in `untracked` and not followed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class SeatSpan:
    first: float  # granted
    last: float  # last granted or renewed
    until: float  # the expiry of the ticket given at `last`
    gap: float | None = None  # the interval between its last two renewals
    left: float | None = None  # given back

    def merge(self, other: SeatSpan) -> SeatSpan:
        """Two origins' views of one seat (commutative)."""
        gaps = [g for g in (self.gap, other.gap) if g is not None]
        lefts = [t for t in (self.left, other.left) if t is not None]
        return SeatSpan(min(self.first, other.first), max(self.last, other.last),
                        max(self.until, other.until), min(gaps) if gaps else None,
                        max(lefts) if lefts else None)

    def window(self) -> tuple[float, float]:
        """When the listener stopped: after `last`, before its next renewal was due."""
        if self.left is not None:
            return self.left, self.left
        due = self.until if self.gap is None else min(self.until, self.last + self.gap)
        return self.last, max(self.last, due)

    def listened_s(self, now: float, ended_at: float | None, slack_s: float) -> float:
        """Seconds listened: to the leave, to the middle of the stop window once the next
        renewal is `slack_s` overdue, else (still listening) to `now`; never past the end."""
        start, due = self.window()
        if self.left is not None:
            end = self.left
        elif ended_at is None and now < due + slack_s:
            end = now
        else:  # the middle of the window, the window cut at the end
            cut = min(ended_at, due) if ended_at is not None else due
            end = (min(start, cut) + cut) / 2
        if ended_at is not None:
            end = min(end, ended_at)
        return max(0.0, end - self.first)


@dataclass
class ListeningLog:
    max_seats: int
    spans: dict[str, dict[str, SeatSpan]]
    changed: set[tuple[str, str]]
    closed: set[str]  # ended spaces already written: a late renewal is no new seat
    untracked: int = 0

    @classmethod
    def empty(cls, max_seats: int) -> ListeningLog:
        return cls(max_seats, {}, set(), set())

    def seen(self, space_id: str, seat: str, now: float, until: float) -> None:
        """A ticket for `seat`, valid until `until`, was handed out at `now` (grant or
        renewal)."""
        if space_id in self.closed:
            return
        seats = self.spans.setdefault(space_id, {})
        span = seats.get(seat)
        if span is None:
            if len(seats) >= self.max_seats:
                self.untracked += 1
                return
            seats[seat] = SeatSpan(now, now, until)
        elif now > span.last:
            seats[seat] = replace(span, last=now, until=max(until, span.until),
                                  gap=now - span.last)
        else:
            return
        self.changed.add((space_id, seat))

    def left(self, space_id: str, seat: str, now: float) -> None:
        span = self.spans.get(space_id, {}).get(seat)
        if span is not None and span.left is None:
            self.spans[space_id][seat] = replace(span, left=now)
            self.changed.add((space_id, seat))

    def take_changed(self) -> list[tuple[str, str, SeatSpan]]:
        """What changed since the last call (written to the store by the caller)."""
        out = [(sid, seat, self.spans[sid][seat]) for sid, seat in sorted(self.changed)
               if seat in self.spans.get(sid, {})]
        self.changed.clear()
        return out

    def forget(self, space_id: str) -> None:
        """An ended space whose seats are written: nothing of it is kept in memory."""
        self.spans.pop(space_id, None)
        self.closed.add(space_id)


def median_listening_s(spans: list[SeatSpan], now: float, ended_at: float | None,
                       slack_s: float) -> float | None:
    if not spans:
        return None
    return statistics.median(s.listened_s(now, ended_at, slack_s) for s in spans)

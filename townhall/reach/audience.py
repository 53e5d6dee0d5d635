"""The host's analytics of one space: one row per interval from counters sampled on a timer.
Core: no I/O, fed `now` and what the existing counters say; never called per request.

Each row has the listeners at that moment (cluster-wide with tickets), joins and leaves in
the interval, new distinct listeners, reactions and the waiting line. Joins come from the
waiting room's admission counter when tickets are on (each seat granted is one join), or from
the listener keys seen on the media path when they are off (a key not in the last sample is a
join). Leaves follow from the two counts: before + joins - now. Distinct listeners are seats
granted (tickets) or distinct keys (at most `max_keys` remembered; past it, keys are counted
as new, and `untracked` says how many). The median listening time comes from the keys here
(tickets off); with tickets, from the seats' grants and renewals (admission/listening.py).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from townhall.store.reach import Sample


@dataclass
class AudienceTally:
    every_s: float
    max_keys: int
    _last_listeners: int = 0
    _last_admitted: int | None = None
    _last_reactions: int | None = None
    _last_keys: set[str] = field(default_factory=set)
    _spans: dict[str, list[float]] = field(default_factory=dict)  # key -> [first, last]
    untracked: int = 0

    def sample(self, at: float, listeners: int, *, admitted: int | None, keys: list[str] | None,
               reactions: int, waiting: int) -> Sample:
        """The row for `at`; `admitted` (seats granted so far) or `keys` (listener keys seen
        on the media path), whichever the deployment counts."""
        new = joins = 0
        if admitted is not None:
            base = admitted if self._last_admitted is None else self._last_admitted
            joins = new = max(0, admitted - base) + (
                listeners if self._last_admitted is None else 0)
            self._last_admitted = admitted
        elif keys is not None:
            now_keys = set(keys)
            joins = len(now_keys - self._last_keys)
            for key in now_keys:
                span = self._spans.get(key)
                if span is not None:
                    span[1] = at
                elif len(self._spans) < self.max_keys:
                    self._spans[key] = [at, at]
                    new += 1
                else:
                    self.untracked += 1
                    new += 1
            self._last_keys = now_keys
        leaves = max(0, self._last_listeners + joins - listeners)
        self._last_listeners = listeners
        reacted = 0 if self._last_reactions is None else max(0, reactions - self._last_reactions)
        self._last_reactions = reactions
        return Sample(at, listeners, joins, leaves, reacted, waiting, new)

    def median_listening_s(self) -> float | None:
        """Median time each remembered key was heard (one interval at least); None without
        keys (tickets on: admission/listening.py)."""
        if not self._spans:
            return None
        return statistics.median(last - first + self.every_s
                                 for first, last in self._spans.values())


def summary(samples: list[Sample], every_s: float, peak: int,
            median_s: float | None) -> dict[str, object]:
    """The whole space from its rows (and the record's peak, counted between rows too)."""
    uniques = sum(s.uniques for s in samples)
    hours = sum(s.listeners for s in samples) * every_s / 3600
    return {
        "samples": len(samples), "every_s": every_s,
        "peak_listeners": max([peak, *(s.listeners for s in samples)]),
        "unique_listeners": uniques, "listening_hours": round(hours, 4),
        "mean_listening_s": round(hours * 3600 / uniques, 1) if uniques else None,
        "median_listening_s": None if median_s is None else round(median_s, 1),
        "joins": sum(s.joins for s in samples), "leaves": sum(s.leaves for s in samples),
        "reactions": sum(s.reactions for s in samples),
        "peak_waiting": max((s.waiting for s in samples), default=0),
        "first": samples[0].at if samples else None, "last": samples[-1].at if samples else None,
    }

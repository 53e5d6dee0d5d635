"""Hosting quotas: how many spaces a key and an origin may create per hour and keep on air.

Sans-IO: fed owners and `now`, answers whether the next create or go-live is allowed and,
if not, why and when to retry. The operator's admin key is exempt from the per-key quotas but
never from the origin's: those protect every other space's listeners, whoever asks. Memory is
bounded: an origin remembers at most `per_origin_hour` creations. The per-key count may come
from the shared store (`shared`), so a key's quota holds over a cluster; the origin's own
ceilings stay the origin's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

HOUR_S = 3600.0


@dataclass(frozen=True)
class Refusal:
    status: int  # 429: this caller's quota; 503: the origin's ceiling
    code: str
    detail: str
    retry_after: float  # seconds


class HostingQuota:
    def __init__(self, per_key_hour: int, per_origin_hour: int, live_per_key: int,
                 live_per_origin: int) -> None:
        self.per_key_hour = per_key_hour
        self.per_origin_hour = per_origin_hour
        self.live_per_key = live_per_key
        self.live_per_origin = live_per_origin
        self._origin: deque[float] = deque()
        self._by_owner: dict[str, deque[float]] = {}

    def _prune(self, now: float) -> None:
        while self._origin and self._origin[0] <= now - HOUR_S:
            self._origin.popleft()
        for owner in list(self._by_owner):
            times = self._by_owner[owner]
            while times and times[0] <= now - HOUR_S:
                times.popleft()
            if not times:
                del self._by_owner[owner]

    def check_create(self, owner: str, exempt: bool, now: float,
                     shared: Sequence[float] | None = None) -> Refusal | None:
        """`shared`: the owner's creations in the last hour on every origin (oldest first),
        from the shared store; None: this origin's own count."""
        self._prune(now)
        if len(self._origin) >= self.per_origin_hour:
            return Refusal(503, "origin_quota", f"this origin creates at most "
                           f"{self.per_origin_hour} spaces an hour; try later",
                           self._origin[0] + HOUR_S - now)
        times = self._by_owner.get(owner) if shared is None else shared
        if not exempt and times and len(times) >= self.per_key_hour:
            return Refusal(429, "quota_exceeded", f"a key creates at most {self.per_key_hour} "
                           "spaces an hour; ask the operator for more", times[0] + HOUR_S - now)
        return None

    def created(self, owner: str, now: float) -> None:
        self._origin.append(now)
        self._by_owner.setdefault(owner, deque()).append(now)

    def check_live(self, exempt: bool, live_of_owner: int, live_total: int) -> Refusal | None:
        """May one more space go on air, with these many already on air?"""
        if live_total >= self.live_per_origin:
            return Refusal(503, "origin_full", f"this origin carries at most "
                           f"{self.live_per_origin} live spaces; try again when one ends", 30.0)
        if not exempt and live_of_owner >= self.live_per_key:
            return Refusal(429, "quota_exceeded", f"a key keeps at most {self.live_per_key} "
                           "spaces on air at once; end one first", 30.0)
        return None

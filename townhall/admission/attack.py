"""Attack mode: when joins or shedding surge, joins must carry a proof of work. Sans-IO.

The operator can force it on or off; in "auto" it switches on when the join rate or the shed
rate crosses its threshold and off after `cooldown_s` below both. Difficulty grows with the
join rate (one more bit each time the rate doubles past the threshold), within bounds.
"""

from __future__ import annotations

import math
from collections import deque

MODES = ("on", "off", "auto")


class RateMeter:
    """Events per second over a sliding window of whole seconds."""

    def __init__(self, window_s: int = 5) -> None:
        self.window_s = window_s
        self._buckets: deque[tuple[int, int]] = deque()

    def add(self, now: float, n: int = 1) -> None:
        sec = int(now)
        if self._buckets and self._buckets[-1][0] == sec:
            self._buckets[-1] = (sec, self._buckets[-1][1] + n)
        else:
            self._buckets.append((sec, n))
        self._trim(sec)

    def _trim(self, sec: int) -> None:
        while self._buckets and self._buckets[0][0] <= sec - self.window_s:
            self._buckets.popleft()

    def rate(self, now: float) -> float:
        self._trim(int(now))
        return sum(n for _, n in self._buckets) / self.window_s


class AttackMode:
    def __init__(self, mode: str, join_threshold: float, shed_threshold: float,
                 cooldown_s: float, min_difficulty: int, max_difficulty: int) -> None:
        self.set_mode(mode)
        self.join_threshold = join_threshold
        self.shed_threshold = shed_threshold
        self.cooldown_s = cooldown_s
        self.min_difficulty = min_difficulty
        self.max_difficulty = max_difficulty
        self.joins = RateMeter()
        self.sheds = RateMeter()
        self._auto_on = False
        self._calm_since: float | None = None

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"attack mode must be one of {', '.join(MODES)}")
        self.mode = mode

    def active(self, now: float) -> bool:
        if self.mode != "auto":
            return self.mode == "on"
        hot = (self.joins.rate(now) > self.join_threshold
               or self.sheds.rate(now) > self.shed_threshold)
        if hot:
            self._auto_on = True
            self._calm_since = None
        elif self._auto_on:
            if self._calm_since is None:
                self._calm_since = now
            elif now - self._calm_since >= self.cooldown_s:
                self._auto_on = False
        return self._auto_on

    def difficulty(self, now: float) -> int:
        rate = self.joins.rate(now)
        extra = 0
        if rate > self.join_threshold > 0:
            extra = int(math.log2(rate / self.join_threshold)) + 1
        return max(self.min_difficulty, min(self.max_difficulty, self.min_difficulty + extra))

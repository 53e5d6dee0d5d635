"""Reactions (emoji) aggregated per second for the status document. Sans-IO, O(1) per add.

Listeners send many; the status shows counts for the last complete second and totals. Only a
fixed palette is accepted, so the document stays small whatever is sent.
"""

from __future__ import annotations

from collections import Counter

PALETTE = ("👏", "❤️", "😂", "🔥", "👍", "🎉", "😮", "💯", "🙏", "😢")


class Reactions:
    def __init__(self, palette: tuple[str, ...] = PALETTE) -> None:
        self.palette = palette
        self._second = -1
        self._current: Counter[str] = Counter()
        self.last_second: dict[str, int] = {}
        self.total: Counter[str] = Counter()

    def _roll(self, now: float) -> None:
        sec = int(now)
        if sec != self._second:
            # the previous second is complete only if it was the one just before
            self.last_second = dict(self._current) if sec == self._second + 1 else {}
            self._current = Counter()
            self._second = sec

    def add(self, kind: str, now: float, n: int = 1) -> None:
        if kind not in self.palette:
            raise ValueError(f"unknown reaction; use one of {' '.join(self.palette)}")
        self._roll(now)
        self._current[kind] += n
        self.total[kind] += n

    def snapshot(self, now: float) -> dict[str, dict[str, int]]:
        self._roll(now)
        return {"last_second": dict(self.last_second), "total": dict(self.total)}

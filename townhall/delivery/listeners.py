"""Counts listeners: distinct keys (session id or address) seen within a sliding window.

Sans-IO, O(1) per sighting, bounded memory. Never identifies anyone beyond an opaque key.
"""

from __future__ import annotations

from collections import OrderedDict


class ListenerCounter:
    def __init__(self, window_s: float, max_tracked: int) -> None:
        self.window_s = window_s
        self.max_tracked = max_tracked
        self._seen: OrderedDict[str, float] = OrderedDict()
        self.peak = 0

    def seen(self, key: str, now: float) -> None:
        self._seen[key] = now
        self._seen.move_to_end(key)
        while len(self._seen) > self.max_tracked:
            self._seen.popitem(last=False)
        self._expire(now)
        self.peak = max(self.peak, len(self._seen))

    def _expire(self, now: float) -> None:
        cutoff = now - self.window_s
        while self._seen:
            _key, t = next(iter(self._seen.items()))
            if t >= cutoff:
                break
            self._seen.popitem(last=False)

    def keys(self) -> list[str]:
        """The keys in the window now (read by the analytics timer, never per request)."""
        return list(self._seen)

    def count(self, now: float) -> int:
        self._expire(now)
        return len(self._seen)

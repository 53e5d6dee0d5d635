"""Latency tiers: which playlist a new joiner of a space gets, low latency or standard. Sans-IO.

- low: LL-HLS (`master.m3u8` -> `media.m3u8`): 0.32 s parts, a blocking reload and a part
  every 0.32 s (about 6.25 requests per listener-second), about 1 s from live.
- standard: `standard.m3u8` (-> `segments.m3u8`), whole segments only: a reload every
  target duration and a segment every 2.24 s (about 1 request per listener-second), three
  target durations back.

The operator picks a tier for every space or one space (`low`, `standard`), or leaves it to
`auto`: new joiners get standard while the origin's event loop lags past a ceiling for a
couple of seconds (origin pressure) or while the space's audience is past what the edges
carry at low latency (edge pressure: the operator's `ll_listeners_max`), and low again once
the pressure has been gone for `hold_s`. Latency is shed before anyone stalls. Listeners
already playing keep their tier: switching a playing player would be heard. Never measures
anything itself: the caller passes the lag, the audience and the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Tier(StrEnum):
    LOW = "low"
    STANDARD = "standard"


MODES = ("low", "standard", "auto")
PLAYLIST = {Tier.LOW: "master.m3u8", Tier.STANDARD: "standard.m3u8"}


@dataclass
class LatencyTiers:
    mode: str = "auto"  # for every space without its own
    ll_listeners_max: int = 100_000  # audience of one space the edges carry at low latency
    lag_ceiling_s: float = 0.5  # origin event-loop lag that sends new joiners to standard
    hold_s: float = 30.0  # pressure gone this long before new joiners get low again
    sustain_s: float = 2.0  # lag must stay past its ceiling this long (one late tick is noise)
    per_space: dict[str, str] = field(default_factory=dict)
    _pressed: dict[str, float] = field(default_factory=dict)  # space -> last pressure seen
    _lagging: dict[str, float] = field(default_factory=dict)  # space -> lag over since
    switches: int = 0  # times a space's joiners were moved to standard by pressure

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"latency tier must be one of {', '.join(MODES)}")
        if self.ll_listeners_max < 0 or self.lag_ceiling_s <= 0 or self.hold_s < 0:
            raise ValueError("ll_listeners_max >= 0, lag ceiling > 0 and hold >= 0 required")

    def set_mode(self, mode: str, space_id: str | None = None) -> None:
        """The operator's choice, for one space or (without one) for every other space."""
        if mode not in MODES:
            raise ValueError(f"latency tier must be one of {', '.join(MODES)}")
        if space_id is None:
            self.mode = mode
        else:
            self.per_space[space_id] = mode

    def tier(self, space_id: str, listeners: int, lag_s: float, now: float) -> tuple[Tier, str]:
        """The tier a joiner gets now, and why ("operator", "origin", "edge" or "calm")."""
        mode = self.per_space.get(space_id, self.mode)
        if mode != "auto":
            return Tier(mode), "operator"
        if lag_s > self.lag_ceiling_s:
            lagging = now - self._lagging.setdefault(space_id, now) >= self.sustain_s
        else:
            self._lagging.pop(space_id, None)
            lagging = False
        reason = ("origin" if lagging else
                  "edge" if listeners > self.ll_listeners_max else None)
        if reason is not None:
            if space_id not in self._pressed:
                self.switches += 1
            self._pressed[space_id] = now
            return Tier.STANDARD, reason
        since = self._pressed.get(space_id)
        if since is not None:
            if now - since < self.hold_s:
                return Tier.STANDARD, "settling"
            del self._pressed[space_id]
        return Tier.LOW, "calm"

    def announce(self, space_id: str, listeners: int, lag_s: float,
                 now: float) -> dict[str, str]:
        """What the details document says about the tier (pages and load testers follow)."""
        tier, why = self.tier(space_id, listeners, lag_s, now)
        return {"latency_tier": tier.value, "tier_playlist": PLAYLIST[tier], "tier_reason": why}

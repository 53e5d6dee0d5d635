"""How many programs this origin may carry: measured, not assumed. Sans-IO.

A program (decode, mix, encode, package, publish a part every part duration) costs what it
costs on the machine it runs on: the constant 20 was measured on another machine, and at
exactly 20 programs listeners stalled (waits of 1.9 s and 7.0 s). So a new program is
admitted only while the measured lag of the programs already on air (how late their clocks'
ticks ran, the same figure exported as townhall_program_lag_seconds) has stayed under
`lag_budget_s` for the last `window_s`; `upper` (live_programs_per_origin) is only an upper
bound. A few of those slots (`reserved`) are kept for the operator's admin key, whom the lag
gate never refuses below the upper bound: the operator can always go live.

Fed lag samples and `now`; no clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    code: str = ""  # "origin_full" (the count) or "origin_busy" (the measured lag)
    detail: str = ""


@dataclass
class ProgramCapacity:
    upper: int  # never more programs than this, whatever the lag
    lag_budget_s: float  # a new program only while the programs' lag stays under this
    window_s: float  # ... over this long
    reserved: int = 0  # slots below `upper` only the operator may take
    _samples: deque[tuple[float, float]] = field(default_factory=deque)  # (now, lag)

    def observe(self, lag_s: float, now: float) -> None:
        self._samples.append((now, lag_s))
        while self._samples and self._samples[0][0] < now - self.window_s:
            self._samples.popleft()

    def recent_lag(self, now: float) -> float:
        """The worst lag measured within the window (0 with no programs on air)."""
        return max((lag for t, lag in self._samples if t >= now - self.window_s), default=0.0)

    def admit(self, on_air: int, operator: bool, now: float) -> Verdict:
        """May one more program go on air, with `on_air` already on air?"""
        if on_air >= self.upper:
            return Verdict(False, "origin_full", f"this origin carries at most {self.upper} "
                           "live spaces; try again when one ends")
        if operator:
            return Verdict(True)
        if on_air >= self.upper - self.reserved:
            return Verdict(False, "origin_full", f"this origin's last {self.reserved} live "
                           "slots are kept for its operator; try again when a space ends")
        lag = self.recent_lag(now)
        if on_air > 0 and lag > self.lag_budget_s:
            return Verdict(False, "origin_busy", f"the programs on air here run {lag:.2f} s "
                           f"late (budget {self.lag_budget_s:g} s): no new program until they "
                           "keep time; try again soon")
        return Verdict(True)

"""Counting a load run: percentiles, and a per-second timeline of what listeners and attackers saw.

Sans-IO. Listeners and attackers report events to a `Tally` as they happen (a stall, an error,
a first audio, a request); once a second the runner closes the current bucket into a `Second`
with the state counts it sampled. Keeps every time-to-first-audio (one float per listener),
a bounded `Reservoir` of the rest, and counters. Never reads the clock: times are arguments.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear between closest ranks (numpy's default);
    None for no values."""
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(values)
    return percentile_sorted(ordered, q)


def percentile_sorted(ordered: Sequence[float], q: float) -> float | None:
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    lo = math.floor(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


Stats = dict[str, float | None]


def summary(values: Iterable[float], qs: Sequence[float] = (50, 90, 95, 99)) -> Stats:
    """count, min, max, mean and the given percentiles (rounded to the millisecond)."""
    ordered = sorted(values)
    out: Stats = {"count": float(len(ordered))}
    out["min"] = _ms(ordered[0]) if ordered else None
    for q in qs:
        out[f"p{q:g}"] = _ms(percentile_sorted(ordered, q))
    out["max"] = _ms(ordered[-1]) if ordered else None
    out["mean"] = _ms(sum(ordered) / len(ordered)) if ordered else None
    return out


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class Reservoir:
    """A uniform sample of at most `capacity` values from a stream of any length (Vitter's
    algorithm R), so percentiles over a long run of thousands of listeners stay bounded."""

    def __init__(self, capacity: int, rng: random.Random) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.rng = rng
        self.values: list[float] = []
        self.seen = 0

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < self.capacity:
            self.values.append(value)
            return
        j = self.rng.randrange(self.seen)
        if j < self.capacity:
            self.values[j] = value


@dataclass
class Second:
    """One second of the run, as sampled at its end."""

    t: int  # whole seconds since the start of the run
    listeners: dict[str, int]  # by state: pending, joining, waiting, admitted, playing, ...
    active: int  # started and not finished
    stalled_now: int  # playing listeners whose buffer is dry at the sample
    stalls: int  # stalls that ended (or were cut) in this second
    stalled_s: float
    errors: int
    errors_by_kind: dict[str, int]
    first_audio: int  # listeners who got their first audio in this second
    ttfa_p50: float | None  # of those
    ttfa_p99: float | None
    live_edge_p50: float | None  # over playing listeners at the sample
    live_edge_p95: float | None
    requests: int  # listener HTTP requests answered in this second
    bytes: int
    attack_requests: int
    attack_status: dict[str, int]  # "200", "429", "timeout", ...
    loop_lag_max: float  # the load generator's own event-loop lag: if high, distrust the rest
    stalls_generator_lag: int = 0  # of `stalls`, those that came with the generator's own lag


# A stall "comes with the generator's own loop lag" when, from LAG_LOOKBACK_S before it began
# to its end, the generator's event loop was late by at least half the stall (and by at least
# LAG_FLOOR_S, or the stall's whole length if shorter): a loop blocked that long delays every
# response it has not yet read by as much, so the stall may be the generator's own, not the
# service's. A stall of a few milliseconds is the generator's when its loop was late by as
# much (the floor alone left a 3 ms stall beside a 10 ms lag to the service: the chaos test
# failed on four of them, 0.02 s in all, on a busy machine).
LAG_LOOKBACK_S = 1.0
LAG_FLOOR_S = 0.02
LAG_KEEP = 400  # lag probes remembered for attribution (20 s at one probe per 50 ms)


@dataclass
class _Bucket:
    stalls: int = 0
    stalls_lagged: int = 0
    stalled_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    ttfa: list[float] = field(default_factory=list)
    requests: int = 0
    bytes: int = 0
    attack: Counter[str] = field(default_factory=Counter)
    loop_lag_max: float = 0.0


class Tally:
    """Events of the current second plus run totals."""

    def __init__(self) -> None:
        self._now = _Bucket()
        self.ttfa: list[float] = []
        self.errors: Counter[str] = Counter()
        self.attack: Counter[str] = Counter()
        self.attack_by_pattern: Counter[str] = Counter()
        self.events: Counter[str] = Counter()  # not errors: waited in line, solved a PoW, ...
        self.requests = 0
        self.bytes = 0
        self.stalls = 0
        self.stalled_s = 0.0
        self.stalls_generator_lag = 0  # stalls that came with the generator's own loop lag
        self.loop_lags: list[float] = []
        self._recent_lags: deque[tuple[float, float]] = deque(maxlen=LAG_KEEP)  # (at, lag)
        # wall time the lag probe's timer is due: a stall that ends while the loop is blocked
        # is judged in the same loop turn as the I/O that ends it, which runs *before* the
        # overdue probe records the lag, so the lag in progress is counted too
        self.probe_due: float | None = None

    def stall(self, seconds: float, at: float | None = None, now: float | None = None) -> None:
        """A stall of `seconds` that began at wall time `at` (None: unknown, counted as the
        service's), judged at wall time `now` (default: the clock)."""
        self._now.stalls += 1
        self._now.stalled_s += seconds
        self.stalls += 1
        self.stalled_s += seconds
        if at is not None and self.lagged(at, at + seconds, seconds, now):
            self._now.stalls_lagged += 1
            self.stalls_generator_lag += 1

    def lagged(self, start: float, end: float, seconds: float,
               now: float | None = None) -> bool:
        """Whether the generator's loop was late enough, around [start, end], to explain a
        stall of `seconds` (the probe's lag so far counts when its timer is overdue)."""
        need = max(min(LAG_FLOOR_S, seconds), 0.5 * seconds)
        lo = start - LAG_LOOKBACK_S
        lags = list(self._recent_lags)
        if self.probe_due is not None:
            now = time.time() if now is None else now
            if now > self.probe_due:
                lags.append((now, now - self.probe_due))
        return any(lag >= need and at - lag <= end and at >= lo for at, lag in lags)

    def loop_lag(self, seconds: float, at: float | None = None) -> None:
        """How late a periodic timer of the load generator fired (at wall time `at`)."""
        self._now.loop_lag_max = max(self._now.loop_lag_max, seconds)
        self.loop_lags.append(seconds)
        if at is not None:
            self._recent_lags.append((at, seconds))

    def event(self, kind: str) -> None:
        self.events[kind] += 1

    def error(self, kind: str) -> None:
        self._now.errors[kind] += 1
        self.errors[kind] += 1

    def first_audio(self, seconds: float) -> None:
        self._now.ttfa.append(seconds)
        self.ttfa.append(seconds)

    def request(self, nbytes: int) -> None:
        self._now.requests += 1
        self._now.bytes += nbytes
        self.requests += 1
        self.bytes += nbytes

    def attack_result(self, pattern: str, outcome: str) -> None:
        """An attacker's request finished with `outcome` (a status code or an error kind)."""
        self._now.attack[outcome] += 1
        self.attack[outcome] += 1
        self.attack_by_pattern[pattern] += 1

    def close_second(self, t: int, states: Counter[str], stalled_now: int,
                     live_edges: Sequence[float]) -> Second:
        b, self._now = self._now, _Bucket()
        ttfa = sorted(b.ttfa)
        edges = sorted(live_edges)
        active = sum(n for s, n in states.items()
                     if s not in ("pending", "done", "failed", "ended"))
        return Second(
            t=t, listeners=dict(states), active=active, stalled_now=stalled_now,
            stalls=b.stalls, stalled_s=round(b.stalled_s, 3), errors=sum(b.errors.values()),
            errors_by_kind=dict(b.errors), first_audio=len(ttfa),
            ttfa_p50=_ms(percentile_sorted(ttfa, 50)), ttfa_p99=_ms(percentile_sorted(ttfa, 99)),
            live_edge_p50=_ms(percentile_sorted(edges, 50)),
            live_edge_p95=_ms(percentile_sorted(edges, 95)),
            requests=b.requests, bytes=b.bytes, attack_requests=sum(b.attack.values()),
            attack_status=dict(b.attack), loop_lag_max=round(b.loop_lag_max, 4),
            stalls_generator_lag=b.stalls_lagged)

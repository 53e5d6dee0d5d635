"""What a load run found: the `LoadReport` (summary, per-second timeline), as JSON and as text.

Built by the runner from the listeners, the tally and the attackers; plain data afterwards,
so tests and benchmarks read fields and the CLI writes files. Never measures anything itself.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from townhall.loadtest.metrics import Second, Stats


@dataclass
class LoadReport:
    target: str
    space: str
    mode: str
    started_at: float  # epoch seconds
    duration_s: float  # as run (the configured duration, plus the wind-down)
    listeners_requested: int
    listeners_by_state: dict[str, int]  # at the end: done, failed, ended, pending, ...
    admitted: int  # listeners that got a ticket at least once
    played: int  # listeners that got their first audio
    waited_in_line: int  # listeners that were placed in the waiting room
    failed: int  # listeners that gave up joining
    ttfa_s: Stats  # time to first audio: join request sent -> first part in hand
    stalls: int  # a part not in hand by its playback deadline (whole run, all listeners)
    stalled_s: float
    listeners_with_stalls: int
    gaps: int  # media never delivered and skipped over
    live_edge_s: Stats  # wall time - PDT of the media being played, sampled every second
    headroom_s: Stats  # each playing listener's least buffer when media arrived (p1 = the
    # listeners closest to stalling; negative = stalled)
    requests: int  # listener HTTP requests answered
    bytes: int  # listener response bodies
    errors: dict[str, int]  # "<what>:<status or failure>", e.g. "part:503", "join:timeout"
    events: dict[str, int]  # not errors: "renewed", "waited_in_line", "proof_of_work", ...
    attack: dict[str, Any]  # patterns, rate, sent, by_outcome, by_pattern, slow
    process: dict[str, float]  # the generator's own cost and health: cpu_s, cpu_percent,
    # max_rss_mb, loop_lag_p99_s, loop_lag_max_s (a lagging generator measures itself)
    timeline: list[Second] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)  # listener bugs (tracebacks), never hidden
    config: dict[str, Any] = field(default_factory=dict)
    # of `stalls`, those that came with the generator's own event-loop lag (metrics.Tally.lagged):
    # stalls - stalls_generator_lag are the ones to blame on the service
    stalls_generator_lag: int = 0
    loop_lag_s: Stats = field(default_factory=dict)  # the generator's loop lag (probe every 50 ms)
    listener_stalled_max_s: float = 0.0  # the most seconds one listener spent stalled

    @property
    def stalls_unexplained(self) -> int:
        """Stalls that did not come with the generator's own loop lag."""
        return self.stalls - self.stalls_generator_lag

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoadReport:
        """A report read back from its JSON (a run in another process)."""
        fields = dict(d)
        fields["timeline"] = [Second(**s) for s in d.get("timeline", [])]
        return cls(**fields)

    @classmethod
    def read_json(cls, path: Path) -> LoadReport:
        return cls.from_dict(json.loads(path.read_text()))

    def stall_seconds(self) -> list[str]:
        """The seconds of the run with stalls, and the generator's own loop lag in each
        (a stall during a long lag may be the generator's, not the service's)."""
        return [f"t={s.t}s: {s.stalls} stalls ({s.stalled_s:.2f} s; "
                f"{s.stalls_generator_lag} with the generator's own loop lag), generator loop "
                f"lag {s.loop_lag_max * 1000:.0f} ms, live edge p95 {s.live_edge_p95}"
                for s in self.timeline if s.stalls]

    def write_json(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    def summary_lines(self) -> list[str]:
        t, e, h = self.ttfa_s, self.live_edge_s, self.headroom_s
        lines = [
            f"loadtest {self.target} space {self.space} ({self.mode}), "
            f"{self.duration_s:.1f} s",
            f"listeners: {self.listeners_requested} requested, {self.admitted} admitted, "
            f"{self.played} played, {self.waited_in_line} waited in line, "
            f"{self.failed} failed",
            f"time to first audio: p50 {_s(t.get('p50'))} p99 {_s(t.get('p99'))} "
            f"max {_s(t.get('max'))}",
            f"stalls: {self.stalls} ({self.stalled_s:.2f} s) in {self.listeners_with_stalls} "
            f"listeners, {self.stalls_generator_lag} of them with the generator's own loop "
            f"lag; gaps {self.gaps}",
            f"live edge distance: p50 {_s(e.get('p50'))} p95 {_s(e.get('p95'))} "
            f"max {_s(e.get('max'))}",
            f"least buffer per listener: min {_s(h.get('min'))} p5 {_s(h.get('p5'))} "
            f"p50 {_s(h.get('p50'))}",
            f"requests: {self.requests} ({self.bytes / 1e6:.1f} MB); errors: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "none"),
        ]
        if self.attack.get("sent"):
            by = self.attack.get("by_outcome", {})
            patterns = ", ".join(self.attack["patterns"])
            late = self.attack.get("late", 0)
            lines.append(f"attack: {self.attack['sent']} sent ({patterns}), {late} of them late "
                         "(the generator fell behind); outcomes "
                         + ", ".join(f"{k} {v}" for k, v in sorted(by.items())))
        p = self.process
        lines.append(f"load generator: {p.get('cpu_s', 0):.1f} CPU-s "
                     f"({p.get('cpu_percent', 0):.0f}% of one core), "
                     f"max RSS {p.get('max_rss_mb', 0):.0f} MB, own loop lag p50 "
                     f"{(self.loop_lag_s.get('p50') or 0) * 1000:.0f} ms p99 "
                     f"{p.get('loop_lag_p99_s', 0) * 1000:.0f} ms max "
                     f"{p.get('loop_lag_max_s', 0) * 1000:.0f} ms, "
                     f"{1e6 * p.get('cpu_s', 0) / max(1, self.requests):.0f} us CPU per request")
        if self.crashes:
            lines.append(f"LISTENER CRASHES: {len(self.crashes)} (see the JSON report)")
        return lines


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"

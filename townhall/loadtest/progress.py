"""Live progress of a load run in the terminal (rich): a small table refreshed every second.

Only rendering: fed each `Second` by the runner's callback, keeps running totals for display.
Disabled (a no-op) when stdout is not a terminal or when asked to be quiet, so logs and CI
output stay clean. Never measures anything.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from townhall.loadtest.metrics import Second


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


class Progress:
    def __init__(self, duration_s: float, listeners: int, *, enabled: bool = True) -> None:
        self.duration_s = duration_s
        self.listeners = listeners
        self.enabled = enabled
        self._live: Any = None
        self._stalls = 0
        self._errors = 0
        self._heard = 0
        self._attack = 0
        self._ttfa = "-"
        if enabled:
            from rich.console import Console

            self.enabled = Console().is_terminal

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.live import Live

            self._live = Live(self._render(None), refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(kind, exc, tb)
            self._live = None

    def update(self, second: Second) -> None:
        self._stalls += second.stalls
        self._errors += second.errors
        self._heard += second.first_audio
        self._attack += second.attack_requests
        if second.first_audio:
            self._ttfa = f"{_s(second.ttfa_p50)} / {_s(second.ttfa_p99)} (t={second.t})"
        if self._live is not None:
            self._live.update(self._render(second))

    def _render(self, s: Second | None) -> Any:
        from rich.table import Table

        table = Table(title=f"townhall loadtest: {self.listeners} listeners, "
                            f"{self.duration_s:g} s", show_header=False)
        table.add_column("what", style="bold")
        table.add_column("value")
        if s is None:
            table.add_row("elapsed", "starting")
            return table
        ls = s.listeners
        table.add_row("elapsed", f"{s.t} / {self.duration_s:g} s")
        table.add_row("listeners", f"{s.active} active: {ls.get('joining', 0)} joining, "
                                   f"{ls.get('waiting', 0)} waiting, {ls.get('playing', 0)} "
                                   f"playing; {ls.get('failed', 0)} failed")
        table.add_row("first audio", f"{self._heard} heard; p50 / p99 {self._ttfa}")
        stall_style = "red" if self._stalls or s.stalled_now else "green"
        table.add_row("stalls", f"[{stall_style}]{self._stalls} total, {s.stalled_now} "
                                f"stalled now[/]")
        table.add_row("live edge", f"p50 {_s(s.live_edge_p50)}  p95 {_s(s.live_edge_p95)}")
        table.add_row("errors", f"{self._errors} total, {s.errors} this second")
        if self._attack:
            codes = ", ".join(f"{k} {v}" for k, v in sorted(s.attack_status.items()))
            table.add_row("attack", f"{s.attack_requests}/s ({codes}); {self._attack} total")
        table.add_row("generator", f"{s.requests} req/s, loop lag {s.loop_lag_max * 1000:.0f} ms")
        return table

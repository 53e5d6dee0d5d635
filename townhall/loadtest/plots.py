"""PNG plots of a load run's timeline (matplotlib, Agg): listeners, stalls, latency, attack.

Reads a `LoadReport` and writes files; never measures. matplotlib is imported here only, when
plots are asked for, so the rest of the load generator starts fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from townhall.loadtest.metrics import Second
from townhall.loadtest.report import LoadReport


def _series(report: LoadReport, get: Callable[[Second], float | None]) -> list[float]:
    """One value per second; None (nothing measured that second) becomes a gap (NaN)."""
    return [float("nan") if (v := get(s)) is None else float(v) for s in report.timeline]


def write_plots(report: LoadReport, directory: Path) -> list[Path]:
    """Write listeners.png, stalls.png, latency.png (and attack.png with attackers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    t = [s.t for s in report.timeline]
    title = f"{report.listeners_requested} {report.mode} listeners, {report.target}"
    out: list[Path] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        path = directory / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append(path)

    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(t, _series(report, lambda s: s.active), label="active")
    for state in ("joining", "waiting", "admitted", "playing"):
        ax.plot(t, [float(s.listeners.get(state, 0)) for s in report.timeline], label=state)
    ax.plot(t, _series(report, lambda s: s.stalled_now), label="stalled now", color="red")
    ax.set(xlabel="seconds", ylabel="listeners", title=f"Listeners: {title}")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    save(fig, "listeners.png")

    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(t, _series(report, lambda s: s.stalls), color="red", label="stalls")
    ax.plot(t, _series(report, lambda s: s.errors), color="black", label="errors")
    ax.set(xlabel="seconds", ylabel="per second",
           title=f"Stalls and errors: {report.stalls} stalls, {report.error_count} errors")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    save(fig, "stalls.png")

    fig, ax = plt.subplots(figsize=(9, 4))
    latency: list[tuple[str, Callable[[Second], float | None]]] = [
        ("time to first audio p50", lambda s: s.ttfa_p50),
        ("time to first audio p99", lambda s: s.ttfa_p99),
        ("live edge distance p50", lambda s: s.live_edge_p50),
        ("live edge distance p95", lambda s: s.live_edge_p95)]
    for name, get in latency:
        ax.plot(t, _series(report, get), marker=".", label=name)
    ax.set(xlabel="seconds", ylabel="seconds", title=f"Latency percentiles: {title}")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    save(fig, "latency.png")

    if report.attack.get("sent"):
        outcomes = sorted({k for s in report.timeline for k in s.attack_status})
        fig, ax = plt.subplots(figsize=(9, 4))
        bottom = [0.0] * len(t)
        for outcome in outcomes:
            vals = [float(s.attack_status.get(outcome, 0)) for s in report.timeline]
            ax.bar(t, vals, bottom=bottom, label=outcome)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set(xlabel="seconds", ylabel="attack requests per second",
               title=f"Attack ({', '.join(report.attack['patterns'])}) by outcome")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        save(fig, "attack.png")
    return out

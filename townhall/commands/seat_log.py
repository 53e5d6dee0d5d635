"""Rotating an edge's seats.log by size, losing no line the shared-ticket check needs.

`rotate(prefix, ...)`: when `prefix/seats.log` is over `max_bytes`, it is renamed aside and
nginx is told to reopen its logs (SIGUSR1 to the pid in `prefix/nginx.pid`: it flushes its
buffered lines into the renamed file, then writes a new seats.log), so no line written
meanwhile is lost; once the renamed file stops growing, it and the previous history are
compacted (`admission.seat_log.compact`) into `seats.log.1`, written whole and fsynced
before the renamed file is removed. A rotation cut short (the process killed) leaves the
renamed file, which the next one compacts first. What was dropped is counted, logged, and
written with the rotations and sizes as Prometheus metrics to `prefix/seat_log.prom` (for
node_exporter's textfile collector), cumulatively.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from townhall.admission.seat_log import ROTATED_SUFFIX, compact

log = logging.getLogger("townhall.seat_log")
LOG_NAME = "seats.log"
ASIDE_SUFFIX = ".rotating"  # moved aside, still being flushed into, not yet compacted
METRICS_NAME = "seat_log.prom"
SETTLE_S = 0.3  # the renamed file has stopped growing when its size holds this long
SETTLE_MAX_S = 10.0


@dataclass(frozen=True)
class Rotation:
    rotated: bool
    size_before: int
    history_bytes: int = 0
    kept: int = 0
    merged: int = 0
    expired: int = 0
    dropped: int = 0
    malformed: int = 0


def _reopen(prefix: Path) -> bool:
    """Ask the edge's nginx to reopen its logs; False if it does not run here."""
    try:
        pid = int((prefix / "nginx.pid").read_text().strip())
        os.kill(pid, signal.SIGUSR1)
    except (OSError, ValueError):
        return False
    return True


def _settle(path: Path) -> None:
    """Wait until nginx stopped writing into the renamed file (its size holds)."""
    deadline = time.monotonic() + SETTLE_MAX_S
    size = -1
    while time.monotonic() < deadline:
        now_size = path.stat().st_size
        if now_size == size:
            return
        size = now_size
        time.sleep(SETTLE_S)


def _read(path: Path) -> list[str]:
    try:
        return path.read_bytes().decode("latin-1").splitlines()
    except FileNotFoundError:
        return []


def rotate(prefix: Path, max_bytes: int, window_s: float, now: float | None = None,
           force: bool = False) -> Rotation:
    """Rotate `prefix/seats.log` if it is over `max_bytes` (or `force`)."""
    live = prefix / LOG_NAME
    aside = prefix / (LOG_NAME + ASIDE_SUFFIX)
    history = prefix / (LOG_NAME + ROTATED_SUFFIX)
    size = live.stat().st_size if live.exists() else 0
    if not aside.exists():
        if not live.exists() or (size <= max_bytes and not force):
            return Rotation(False, size)
        os.replace(live, aside)
        if _reopen(prefix):
            time.sleep(SETTLE_S)  # the master passes the signal on to its workers
        _settle(aside)
    when = time.time() if now is None else now
    out = compact([*_read(history), *_read(aside)], when - window_s, max_bytes)
    tmp = prefix / (LOG_NAME + ROTATED_SUFFIX + ".tmp")
    with open(tmp, "wb") as f:
        f.write("".join(line + "\n" for line in out.lines).encode("latin-1"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, history)
    aside.unlink()
    result = Rotation(True, size, out.size, out.kept, out.merged, out.expired, out.dropped,
                      out.malformed)
    if out.dropped:
        log.warning("seats.log: %d seat records inside the %.0f s window dropped to keep "
                    "the history within %d bytes", out.dropped, window_s, max_bytes)
    _export(prefix, result)
    return result


def _export(prefix: Path, r: Rotation) -> None:
    """Add this rotation to the cumulative counters in `seat_log.prom` (written whole)."""
    path = prefix / METRICS_NAME
    state_path = prefix / "seat_log.state.json"
    try:
        totals: dict[str, int] = json.loads(state_path.read_text())
    except (OSError, ValueError):
        totals = {}
    for name in ("dropped", "merged", "expired", "malformed"):
        totals[name] = totals.get(name, 0) + int(asdict(r)[name])
    totals["rotations"] = totals.get("rotations", 0) + 1
    state_path.write_text(json.dumps(totals))
    text = (
        "# HELP townhall_seat_log_rotations_total rotations of the edge's seats.log\n"
        "# TYPE townhall_seat_log_rotations_total counter\n"
        f"townhall_seat_log_rotations_total {totals['rotations']}\n"
        "# HELP townhall_seat_log_records_total seats.log lines at rotation, by fate: dropped "
        "(inside the window, over the bound), merged (a later line of the same seat and "
        "address kept), expired (older than the window), malformed\n"
        "# TYPE townhall_seat_log_records_total counter\n"
        + "".join(f'townhall_seat_log_records_total{{fate="{name}"}} {totals[name]}\n'
                  for name in ("dropped", "merged", "expired", "malformed"))
        + "# HELP townhall_seat_log_history_bytes size of seats.log.1 after the last rotation\n"
        "# TYPE townhall_seat_log_history_bytes gauge\n"
        f"townhall_seat_log_history_bytes {r.history_bytes}\n")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

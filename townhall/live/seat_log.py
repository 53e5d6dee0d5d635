"""Rotating an edge's seats.log by size, losing no line the shared-ticket check needs.

`rotate(prefix, ...)`: when `prefix/seats.log` is over `max_bytes`, it is renamed aside and
nginx is told to reopen its logs (SIGUSR1 to the pid in `prefix/nginx.pid`: it flushes its
buffered lines into the renamed file, then writes a new seats.log), so no line written
meanwhile is lost; once the renamed file stops growing, it and the previous history are
compacted (`admission.seat_log.compact`) into `seats.log.1`, written whole and fsynced
before the renamed file is removed. A rotation cut short (the process killed) leaves the
renamed file, which the next one compacts first. What was dropped is counted, logged, and
written with the rotations and sizes as Prometheus metrics to `prefix/seat_log.prom` (for
node_exporter's textfile collector), cumulatively. One rotation at a time per edge (a lock
file: `townhall serve` and a cron `townhall tickets rotate` may both run).

`SeatLogRotation` is how `townhall serve` does it by itself (issue 18: nothing started `tickets
rotate --every`): every `seat_log_check_s` it looks at each edge prefix of `seat_log_edges`
on this host and rotates past `seat_log_max_bytes`, on a thread of its own (never the pool
that other work shares), and exports rotations, bytes and fates on the origin's /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from townhall.admission.seat_log import ROTATED_SUFFIX, compact
from townhall.live import tasks
from townhall.ops import metrics
from townhall.settings import Settings

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
    busy: bool = False  # another process was rotating this edge's log: nothing done


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
    """Rotate `prefix/seats.log` if it is over `max_bytes` (or `force`); one rotation at a
    time per edge (another under way: `busy`, nothing done)."""
    with open(prefix / (LOG_NAME + ".lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            live = prefix / LOG_NAME
            return Rotation(False, live.stat().st_size if live.exists() else 0, busy=True)
        return _rotate(prefix, max_bytes, window_s, now, force)


def _rotate(prefix: Path, max_bytes: int, window_s: float, now: float | None,
            force: bool) -> Rotation:
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


class SeatLogRotation:
    """`townhall serve` keeps its edges' seats.log bounded by itself (see the top)."""

    def __init__(self, settings: Settings) -> None:
        self.prefixes = [Path(p.strip()) for p in settings.admission.seat_log_edges.split(",")
                         if p.strip()]
        self.max_bytes = settings.admission.seat_log_max_bytes
        self.window_s = settings.admission.seat_log_window_s
        self.every_s = settings.admission.seat_log_check_s
        # a thread of its own: a rotation reads and fsyncs up to max_bytes, and must neither
        # wait behind nor slow the pool that decoders and the store share
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seat-log")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.prefixes:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        await tasks.cancel(self._task)
        self._thread.shutdown(wait=False, cancel_futures=True)  # one cut short: redone later

    async def _run(self) -> None:
        while True:
            for prefix in self.prefixes:
                await self.look(prefix)
            await asyncio.sleep(self.every_s)

    async def look(self, prefix: Path) -> Rotation | None:
        """Rotate one edge's log if it is over the bound; None where it keeps no log."""
        live, aside = prefix / LOG_NAME, prefix / (LOG_NAME + ASIDE_SUFFIX)
        if not live.exists() and not aside.exists():
            return None
        edge = str(prefix)
        loop = asyncio.get_running_loop()
        try:
            done = await loop.run_in_executor(self._thread, rotate, prefix, self.max_bytes,
                                              self.window_s)
        except OSError as exc:
            metrics.SEAT_LOG_ERRORS.labels(edge).inc()
            log.warning("seats.log of the edge at %s not rotated: %s (tried again in %.0f s)",
                        prefix, exc, self.every_s)
            return None
        history = prefix / (LOG_NAME + ROTATED_SUFFIX)
        with _suppressed():
            metrics.SEAT_LOG_BYTES.labels(edge, "live").set(
                live.stat().st_size if live.exists() else 0)
            metrics.SEAT_LOG_BYTES.labels(edge, "history").set(
                history.stat().st_size if history.exists() else 0)
        if done.rotated:
            metrics.SEAT_LOG_ROTATIONS.labels(edge).inc()
            metrics.SEAT_LOG_ROTATED_BYTES.labels(edge).inc(done.size_before)
            for fate in ("dropped", "merged", "expired", "malformed"):
                metrics.SEAT_LOG_RECORDS.labels(edge, fate).inc(getattr(done, fate))
            log.info("seats.log of the edge at %s rotated: %d bytes, history %d bytes "
                     "(%d merged, %d expired, %d dropped)", prefix, done.size_before,
                     done.history_bytes, done.merged, done.expired, done.dropped)
        return done


def _suppressed() -> contextlib.AbstractContextManager[None]:
    return contextlib.suppress(OSError)  # a file gone between two looks: the next look sees

"""Failover benchmark: how long listeners hear nothing when a live space's origin is killed,
over N kills, and what replication costs (CPU per live space on a standby and on Redis).

A cluster on this machine (redis-server, three `townhall serve` origins sharing one SQLite
file, one nginx edge), a space fed by `townhall broadcast` through the edge. A probe listener
follows the live playlist through the edge with blocking reloads and notes when each part
arrives; a player model (`townhall.loadtest.playback`, started PART-HOLD-BACK behind the live
edge, as players are) turns arrivals into what a listener hears. Each round kills -9 the
origin holding the lease, waits for a standby to take over, restarts the dead origin (a fresh
standby) and lets the program settle. Reported per kill: lease moved (kill -> new holder),
publication gap (longest wait between two parts through the edge), heard gap (the player's
stall). Before the kills, with the space live and nothing killed, the CPU each process spent
for 20 s: with one live space, the standbys' and Redis's share is the replication cost per live
space. The dead origin restarts (as a fresh standby) while the program settles, and the run
stops killing at `--max-seconds`, so it ends in bounded time. Writes the summary (`--report`)
and a plot of every kill (`--plot`).

    .venv/bin/python bench/failover.py --report failover.json --plot failover.png
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from harness.cluster import cluster, wait_for
from harness.edge import start_edge_over
from harness.server import free_port, stop_process
from townhall.loadtest.playback import Playback

HOLD_BACK_S = 3 * 0.32  # the origin's PART-HOLD-BACK (3 parts): where players start
PART_RE = re.compile(r'#EXT-X-PART:DURATION=([\d.]+),URI="part/(\d+)\.(\d+)\.m4s"')


class Probe(threading.Thread):
    """A listener through the edge: (msn, index) -> (arrival time, duration) of each part."""

    def __init__(self, edge: str, space: str) -> None:
        super().__init__(daemon=True)
        self.edge, self.space = edge, space
        self.base = ""
        self.arrivals: dict[tuple[int, int], tuple[float, float]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        joined_at = 0.0
        with httpx.Client(timeout=15) as client:
            while not self.stop.is_set():
                try:
                    if time.monotonic() - joined_at > 50:  # a fresh ticket (they lapse)
                        doc = client.post(f"{self.edge}/api/spaces/{self.space}/join",
                                          json={}).json()
                        self.base = doc["playlist_url"].rsplit("/", 1)[0]
                        joined_at = time.monotonic()
                    text = client.get(f"{self.base}/media.m3u8").text
                except (httpx.HTTPError, KeyError, ValueError):
                    time.sleep(0.05)
                    continue
                now = time.monotonic()
                for dur, msn, index in PART_RE.findall(text):
                    self.arrivals.setdefault((int(msn), int(index)), (now, float(dur)))
                m = re.findall(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part/(\d+)\.(\d+)\.m4s"',
                               text)
                if m:  # wait at the edge for the hinted part, as an LL-HLS player does
                    msn, index = m[-1]
                    try:
                        client.get(f"{self.base}/media.m3u8?_HLS_msn={msn}&_HLS_part={index}")
                    except httpx.HTTPError:
                        time.sleep(0.05)
                else:
                    time.sleep(0.1)


def heard(arrivals: dict[tuple[int, int], tuple[float, float]], since: float,
          until: float, hold_back_s: float) -> tuple[float, float]:
    """(longest wait between parts, player's stall) for parts that arrived in [since, until)."""
    ordered = sorted(arrivals.items())
    offset, points = 0.0, []
    for _key, (at, dur) in ordered:
        points.append((offset, dur, at))
        offset += dur
    window = [p for p in points if since - 10 <= p[2] < until]
    if len(window) < 3:
        return float("nan"), float("nan")
    start = window[0]
    player = Playback(start[2] + hold_back_s, start[0])
    waits = [b[2] - a[2] for a, b in itertools.pairwise(window)]
    stalled = 0.0
    for off, dur, at in window:
        stall = player.arrive(off, dur, at)
        if stall is not None and at >= since:
            stalled += stall.seconds
    return max(waits), stalled


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, in clock ticks


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--settle", type=float, default=4.0, help="seconds between kills")
    ap.add_argument("--report", default=None)
    ap.add_argument("--plot", default="failover.png", help="PNG of every kill ('' for none)")
    ap.add_argument("--max-seconds", type=float, default=420.0,
                    help="stop killing after this long (the run ends in bounded time)")
    args = ap.parse_args()
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="townhall-failover-"))
    tone = root / "tone.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=20", "-c:a", "aac", str(tone)], check=True)
    edge_port = free_port()
    kills: list[dict[str, float]] = []
    cpu: dict[str, float] = {}
    with cluster(root / "cluster", 3, edge_port, "--idle-pause", "120") as c:
        edge = start_edge_over({f"o{i}": o for i, o in enumerate(c.origins)}, root / "edge",
                               edge_port)
        names = dict(zip("abc", c.origins, strict=True))
        doc = c.origins[0].create_space(title="failover bench")
        sid = doc["id"]
        speaker = subprocess.Popen(
            [sys.executable, "-m", "townhall.cli", "broadcast", str(tone), "--loop", "--server",
             edge.url, "--space", sid, "--key", doc["host_key"]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: httpx.get(f"{edge.url}/api/spaces/{sid}").json()["on_air"], 30,
                     "on air")
            probe = Probe(edge.url, sid)
            probe.start()
            time.sleep(3)
            # --- replication cost: 20 s live, nothing killed ---
            procs = {n: o.process.pid for n, o in names.items()}
            redis_pid = c.redis.process.pid if c.redis.process else 0
            before = {n: cpu_seconds(p) for n, p in procs.items()}
            before["redis"] = cpu_seconds(redis_pid)
            time.sleep(20)
            holder = c.holder(sid) or "?"
            for n, p in procs.items():
                role = "holder" if n == holder else f"standby_{n}"
                cpu[role] = (cpu_seconds(p) - before[n]) / 20
            cpu["redis"] = (cpu_seconds(redis_pid) - before["redis"]) / 20
            print("cpu (cores):", {k: round(v, 3) for k, v in cpu.items()}, flush=True)
            for k in range(args.kills):
                if time.monotonic() - started > args.max_seconds:
                    print(f"stopped after {k} kills: --max-seconds reached", flush=True)
                    break
                holder = c.holder(sid)
                assert holder is not None
                victim = names[holder]
                victim.process.send_signal(signal.SIGKILL)
                victim.process.wait(5)
                killed_wall, killed = time.time(), time.monotonic()
                wait_for(lambda h=holder: c.holder(sid) not in (None, h), 10, "takeover")
                moved = time.monotonic() - killed
                # the dead origin comes back as a fresh standby while the program settles
                back: dict[str, Any] = {}
                restart = threading.Thread(target=lambda h=holder, v=victim, b=back: b.update(
                    server=c.restart_origin(h, v)))
                restart.start()
                time.sleep(args.settle)
                wait, stall = heard(probe.arrivals, killed, time.monotonic(), HOLD_BACK_S)
                kills.append({"lease_moved_s": moved, "publication_gap_s": wait,
                              "heard_gap_s": stall, "at": killed_wall})
                print(f"kill {k + 1}: lease moved {moved:.2f} s, publication gap {wait:.2f} s,"
                      f" heard gap {stall:.2f} s", flush=True)
                restart.join(60)
                names[holder] = back["server"]
                wait_for(lambda: c.holder(sid) is not None, 10, "a holder")
            probe.stop.set()
        finally:
            stop_process(speaker)
            edge.stop()
    shutil.rmtree(root, ignore_errors=True)
    summary: dict[str, Any] = {"kills": len(kills), "cpu_cores": cpu, "rounds": kills,
                               "seconds": round(time.monotonic() - started, 1)}
    standbys = [v for k, v in cpu.items() if k.startswith("standby_")]
    if standbys:  # one live space: what following it costs each standby, and Redis
        summary["replication_cores_per_live_space"] = {
            "per_standby": statistics.mean(standbys), "redis": cpu.get("redis", 0.0),
            "holder_whole_program": cpu.get("holder", 0.0)}
    for key in ("lease_moved_s", "publication_gap_s", "heard_gap_s"):
        values = [r[key] for r in kills if r[key] == r[key]]
        if values:
            summary[key] = {"median": statistics.median(values), "p95": percentile(values, 95),
                            "max": max(values)}
    print(json.dumps({k: v for k, v in summary.items() if k != "rounds"}, indent=1))
    if args.report:
        Path(args.report).write_text(json.dumps(summary, indent=1))
    if args.plot and kills:
        plot(kills, Path(args.plot))
        print(f"plot: {args.plot}")
    return 0


def plot(kills: list[dict[str, float]], path: Path) -> None:
    """One group of bars per kill: lease moved, longest wait between parts, heard stall."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    xs = range(1, len(kills) + 1)
    for i, (key, label) in enumerate([("lease_moved_s", "lease moved"),
                                      ("publication_gap_s", "longest wait between parts"),
                                      ("heard_gap_s", "heard stall (player model)")]):
        ax.bar([x + (i - 1) * 0.27 for x in xs], [k[key] for k in kills], width=0.27,
               label=label)
    ax.axhline(3.0, color="grey", linestyle="--", linewidth=1, label="3 s: the gap allowed")
    ax.set_xlabel("kill -9 of the origin holding the lease")
    ax.set_ylabel("seconds")
    ax.set_xticks(list(xs))
    ax.set_title(f"Failover over {len(kills)} kills (3 origins, 1 edge, this machine)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())

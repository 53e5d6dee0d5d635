"""What one load-generator process costs: CPU microseconds per listener request, and its own
event-loop lag, at N LL-HLS listeners through a real nginx edge.

A townhall origin on air (a paced WAV tone from `harness/tone_source.py`, no ffmpeg) behind its
nginx edge (`harness/edge.origin_behind_edge`); this process runs `run_load` with N LL
listeners for a bounded time and prints: requests, the generator's CPU-s (getrusage, this
process only), microseconds of generator CPU per request, loop lag p50/p99/max, stalls (and
how many coincide with the generator's own loop lag). `--profile` runs the load under
cProfile and prints the 30 functions with the most own time (cProfile roughly doubles the
cost: use it to rank, not to time). Loopback only; everything started is stopped.

Run: .venv/bin/python bench/loadgen_cost.py --listeners 1000 --seconds 20 [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

from harness.edge import origin_behind_edge
from harness.tone_source import ToneSource
from townhall.loadtest import LoadConfig, LoadReport, eventloop, run_load
from townhall.loadtest.workers import run_workers


def cost_lines(report: LoadReport) -> list[str]:
    p = report.process
    us = 1e6 * p["cpu_s"] / max(1, report.requests)
    lag = report.loop_lag_s
    return [f"listeners {report.listeners_requested}, played {report.played}, "
            f"requests {report.requests} ({report.requests / report.duration_s:.0f}/s)",
            f"generator CPU {p['cpu_s']:.1f} s ({p['cpu_percent']:.0f}% of one core): "
            f"{us:.1f} us per request (user {p.get('cpu_user_s', 0):.1f} s, system "
            f"{p.get('cpu_system_s', 0):.1f} s; {eventloop.loop_name()})",
            f"generator loop lag p50 {1000 * (lag.get('p50') or 0):.1f} ms, p99 "
            f"{1000 * (lag.get('p99') or 0):.1f} ms, max {1000 * (lag.get('max') or 0):.0f} ms",
            f"stalls {report.stalls} ({report.stalled_s:.2f} s), of which "
            f"{report.stalls_generator_lag} came with the generator's own loop lag; "
            f"errors {report.errors or 'none'}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--listeners", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--join-window", type=float, default=3.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    if not 1 <= args.listeners <= 20_000 or not 1 <= args.seconds <= 300:
        ap.error("listeners 1..20000, seconds 1..300")
    with tempfile.TemporaryDirectory(prefix="townhall-loadgen-") as tmp, \
            origin_behind_edge(Path(tmp), "--attack-mode", "off") as (origin, edge):
        doc = origin.create_space(title="loadgen cost", host="bench")
        tone = ToneSource(doc["ingest_url"], args.seconds + 60)
        tone.start()
        try:
            origin.wait_on_air(doc["id"])
            time.sleep(3)  # a few segments in the window
            config = LoadConfig(target=edge.url, space=doc["id"], listeners=args.listeners,
                                duration_s=args.seconds, join_window_s=args.join_window,
                                seed=1)
            prof = cProfile.Profile() if args.profile else None
            if prof is not None:
                prof.enable()
            if args.workers > 1:
                report = run_workers(config, args.workers)
            else:
                report = eventloop.run(run_load(config))
            if prof is not None:
                prof.disable()
        finally:
            tone.stop()
    print("\n".join(cost_lines(report)))
    if prof is not None:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The capacities `townhall simulate` sizes a deployment with, measured on this machine.

Runs two benches and keeps what the model needs, with the machine and the date:

  edge_requests_per_s_per_core  LL-HLS requests one nginx worker answers per CPU-second
                                (bench/edge_scale.py: one worker, LISTENERS LL listeners)
  shield_requests_per_s         one shield node: an nginx worker core in front of the
                                origins that edges fill from (the same per-core figure)
  origin_requests_per_s         joins/renewals one origin process answers per CPU-second
                                (bench/join_capacity.py, the fast path: 1 / CPU per join)
  origin_joins_per_s            joins/s one origin answered in full (the same bench)

Both benches read CPU from /proc per process, so the per-core figures hold on a busy machine
better than throughput does. Writes bench/out/capacities.json (`townhall simulate
--capacities` reads it); `--install` also copies it over the model's default,
townhall/simulate/capacities.json (commit that copy with the README's sizing table).

Run: .venv/bin/python bench/capacities.py            (about 3 min)
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.machine import machine
from townhall.simulate.model import DEFAULT_CAPACITIES

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out" / "capacities.json"


def run_bench(script: str, *args: str) -> None:
    subprocess.run([sys.executable, str(BENCH / script), *args], check=True, timeout=900)


def measure(listeners: int, quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="townhall-capacities-") as tmp_name:
        tmp = Path(tmp_name)
        run_bench("edge_scale.py", "--steps", f"{listeners}:1", "--edge-workers", "1",
                  "--out", str(tmp))
        edge = json.loads((tmp / "edge_scale.json").read_text())
        run_bench("join_capacity.py", *(["--quick"] if quick else []), "--out", str(tmp))
        joins = json.loads((tmp / "join_capacity.json").read_text())
    per_core = max(s["edge_requests_per_core_s"] for s in edge["steps"])
    fast = joins["results"]["fast path"]
    cpu_us = min(s["cpu_us_per_join"] for s in fast if s["cpu_us_per_join"])
    in_full = max((s["offered_per_s"] for s in fast if s["full"]), default=0)
    return {
        "edge_requests_per_s_per_core": round(per_core),
        "shield_requests_per_s": round(per_core),
        "origin_requests_per_s": round(1e6 / cpu_us),
        "origin_joins_per_s": in_full,
        "measured": {
            "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "by": "bench/capacities.py",
            "edge_listeners": listeners,
            "edge_steps": edge["steps"],
            "origin_cpu_us_per_join": cpu_us,
            "join_steps": fast,
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--listeners", type=int, default=300, help="LL listeners on the edge")
    ap.add_argument("--quick", action="store_true", help="join_capacity.py --quick")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--install", action="store_true",
                    help=f"also write the model's default ({DEFAULT_CAPACITIES})")
    args = ap.parse_args()
    if not 1 <= args.listeners <= 5000:
        ap.error("--listeners: 1..5000")
    caps = measure(args.listeners, args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(caps, indent=1) + "\n")
    print({k: v for k, v in caps.items() if k != "measured"})
    print(f"wrote {args.out}")
    if args.install:
        shutil.copyfile(args.out, DEFAULT_CAPACITIES)
        print(f"installed as {DEFAULT_CAPACITIES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

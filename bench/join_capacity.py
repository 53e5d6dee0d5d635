"""Join capacity of one origin: joins answered per second and CPU per join, with the ASGI fast
path for joins (`fast_join`, the default) against the framework route, side by side.

Two townhall origins run at once on loopback (attack mode off and join rate limits raised:
this measures admission work, not refusals), each with one space. For each offered rate the
load tester's join attackers (`townhall loadtest --attack join`, from 1,016 addresses, in a
process of their own) post joins for STEP_S seconds, alternating between the two origins so
both see the same machine. Reported per step: joins answered 200 per second, failures
(timeouts, sheds, refusals), and the origin's CPU-microseconds per answered join (from
/proc, so less sensitive to a busy machine than throughput). The capacity of a variant is the
highest offered rate it answered in full (>= 99 %, no timeout).
Outputs bench/out/join_capacity.{png,json}.
Run: .venv/bin/python bench/join_capacity.py            (about 2 min)
     .venv/bin/python bench/join_capacity.py --quick    (about 1 min)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.deployments import CpuMeter
from harness.machine import machine
from harness.server import Server, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent

OUT_DIR = ROOT / "bench" / "out"
RATES = (1000, 2000, 3000, 4000, 6000, 8000)
QUICK_RATES = (2000, 4000, 6000)
STEP_S = 8.0
UNLIMITED = ["--attack-mode", "off"] + [a for k in (
    "join_rate_per_address", "join_burst_per_address", "join_rate_per_network",
    "join_burst_per_network") for a in ("--set", f"{k}=1000000")]
VARIANTS = {"framework route": "fast_join=false", "fast path": "fast_join=true"}


def step(origin: Server, space: str, rate: int, out: Path) -> dict[str, Any]:
    meter = CpuMeter({"origin": [origin.process.pid]})
    cpu0 = meter.read()["origin"]
    report = out / f"r{rate}.json"
    subprocess.run([sys.executable, "-m", "townhall.cli", "loadtest", "--target",
                    origin.base_url, "--space", space, "--listeners", "0", "--duration",
                    str(STEP_S), "--attack", "join", "--attack-rate", str(rate), "--seed", "5",
                    "--quiet", "--report", str(report)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu = meter.read()["origin"] - cpu0
    attack = json.loads(report.read_text())["attack"]
    outcomes: dict[str, int] = attack["by_outcome"]
    ok = outcomes.get("200", 0)
    return {"offered_per_s": rate, "sent": attack["sent"], "answered_per_s": round(ok / STEP_S),
            "failures": {k: v for k, v in outcomes.items() if k != "200"},
            "cpu_us_per_join": round(cpu / max(ok, 1) * 1e6, 1),
            "full": ok >= 0.99 * rate * STEP_S and "timeout" not in outcomes}


def plot(path: Path, results: dict[str, list[dict[str, Any]]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5))
    for name, steps in results.items():
        offered = [s["offered_per_s"] for s in steps]
        ax.plot(offered, [s["answered_per_s"] for s in steps], "o-", label=name)
        bx.plot(offered, [s["cpu_us_per_join"] for s in steps], "o-", label=name)
    top = max(s["offered_per_s"] for steps in results.values() for s in steps)
    ax.plot([0, top], [0, top], ":", color="grey", label="offered")
    ax.set(xlabel="joins offered per second", ylabel="joins answered 200 per second",
           title="joins answered by one origin")
    bx.set(xlabel="joins offered per second", ylabel="origin CPU-us per answered join",
           title="origin CPU per join", ylim=(0, None))
    for a in (ax, bx):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help=f"rates {QUICK_RATES}")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()
    rates = QUICK_RATES if args.quick else RATES
    args.out.mkdir(parents=True, exist_ok=True)
    m = machine()
    print(f"join capacity on {m['cpus']} CPUs ({m['cpu_model']}); the origins and the join "
          "generator share them", flush=True)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="townhall-joins-") as tmp_name:
        tmp = Path(tmp_name)
        origins: dict[str, tuple[Server, str]] = {}
        try:
            for i, (name, flag) in enumerate(VARIANTS.items()):
                srv = start_server(tmp / f"o{i}", *UNLIMITED, "--set", flag)
                origins[name] = (srv, srv.create_space(title="joins", host="bench")["id"])
            for rate in rates:
                for name, (srv, space) in origins.items():
                    s = step(srv, space, rate, tmp / name.replace(" ", "_"))
                    results[name].append(s)
                    print(f"  {name:<16} offered {rate:>5}/s answered {s['answered_per_s']:>5}/s"
                          f" cpu {s['cpu_us_per_join']:>6} us/join failures {s['failures']}",
                          flush=True)
                    time.sleep(1.0)
        finally:
            for srv, _ in origins.values():
                stop_server(srv)
    lines = []
    for name, steps in results.items():
        full = [s["offered_per_s"] for s in steps if s["full"]]
        best = max(s["answered_per_s"] for s in steps)
        low = min(s["cpu_us_per_join"] for s in steps)
        lines.append(f"{name:<16} answered in full up to {max(full, default=0)}/s, at most "
                     f"{best}/s; origin CPU {low} us per join at best")
    fw, fast = results["framework route"], results["fast path"]
    lines.append("fast path / framework: x{:.2f} joins/s at most, x{:.2f} CPU per join".format(
        max(s["answered_per_s"] for s in fast) / max(1, max(s["answered_per_s"] for s in fw)),
        min(s["cpu_us_per_join"] for s in fast) / max(1e-9, min(s["cpu_us_per_join"]
                                                                  for s in fw))))
    print("\n".join(lines))
    (args.out / "join_capacity.json").write_text(json.dumps(
        {"machine": m, "step_s": STEP_S, "results": results, "summary": lines}, indent=1))
    plot(args.out / "join_capacity.png", results,
         f"one origin's join capacity on {m['cpus']} CPUs ({m['cpu_model']}), generator on "
         "the same machine")
    print(f"wrote {args.out / 'join_capacity.json'} and {args.out / 'join_capacity.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Join storm: time to first audio as the join rate rises, through a townhall edge.

A townhall origin (attack mode off: no proof of work, this measures admission and delivery
under a storm) behind its nginx edge (`townhall edge-config`), on air with ffmpeg -re. For
each join rate R the load tester (`townhall.loadtest.run_load`, LL-HLS listeners) sends
N = R x T joins spread evenly over T seconds at the "scheduled start", each listener then
doing what the space page does: join, master, media playlist, init, first part. Time to
first audio (TTFA) runs from the join request to the first part in hand, retries included
(429/503 are answered with Retry-After and the listener honours it). Listeners keep playing
until the step ends, GRACE_S after the last join; one that has no audio by then counts as
not served in time.

The rate doubles until the first step where a listener timed out or was not served in time
(or the list ends). One machine, 2 CPUs shared by origin, edge, source and the generator:
the generator's own CPU and event-loop lag are printed, because past ~1,500 LL listeners
the generator, not the server, is what delays first audio.
Outputs bench/out/join_storm.{png,json}.
Run: .venv/bin/python bench/join_storm.py            (about 2 min)
     .venv/bin/python bench/join_storm.py --quick    (about 1 min)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.deployments import NOISE, CpuMeter
from harness.edge import origin_metrics, start_edge
from harness.machine import machine
from harness.server import Server, start_server, stop_server
from townhall.loadtest import LoadConfig, LoadReport, run_load
from townhall.loadtest.metrics import Second

ROOT = Path(__file__).resolve().parent.parent

OUT_DIR = ROOT / "bench" / "out"
RATES = (100, 200, 400, 800, 1600)  # joins per second
QUICK_RATES = (200, 800)
WINDOW_S = 2.0  # the joins of a step arrive evenly over this long
GRACE_S = 8.0  # after the last join: time to be admitted and hear something
STEP_PAUSE_S = 3.0
LAGGING_GENERATOR_S = 0.1


@dataclass
class StormStep:
    rate: float  # joins per second
    listeners: int
    window_s: float
    played: int
    not_served: int  # no first audio by the end of the step
    ttfa_s: dict[str, float | None]  # p50, p90, p99, max, ...
    stalls: int
    errors: dict[str, int]
    timeouts: int  # errors of kind ...:timeout
    waited_in_line: int
    shed: dict[str, int]  # origin sheds during the step, by class
    origin_joins: int  # join requests that reached the origin
    cpu_percent: dict[str, float]  # origin, nginx: of one core over the step
    generator_cpu_percent: float
    generator_lag_p99_s: float
    admissions: list[int]  # first audios in each second of the step

    @property
    def failed(self) -> bool:
        return self.not_served > 0 or self.timeouts > 0


async def storm(target: str, space: str, rate: float, window_s: float,
                meter: CpuMeter, index: int) -> tuple[LoadReport, dict[str, float]]:
    n = max(1, round(rate * window_s))
    config = LoadConfig(target=target, space=space, listeners=n,
                        duration_s=window_s + GRACE_S, join_window_s=window_s,
                        listener_network=20 + 40 * (index % 5), join_timeout_s=10.0,
                        seed=index)
    before, t0 = meter.read(), time.monotonic()
    report = await run_load(config)
    after, elapsed = meter.read(), time.monotonic() - t0
    return report, {r: round(100 * (after[r] - before[r]) / elapsed, 1) for r in before}


def _counters(origin: Server) -> dict[str, Any]:
    m = origin_metrics(origin)
    return {"joins": m["counters"]["joins"], "shed": dict(m["shed"])}


def run_step(origin: Server, edge_url: str, space: str, rate: float, window_s: float,
             meter: CpuMeter, index: int) -> StormStep:
    before = _counters(origin)
    report, cpu = asyncio.run(storm(edge_url, space, rate, window_s, meter, index))
    after = _counters(origin)
    shed = {k: after["shed"].get(k, 0) - before["shed"].get(k, 0) for k in after["shed"]}
    timeline: list[Second] = report.timeline
    return StormStep(
        rate=rate, listeners=report.listeners_requested, window_s=window_s,
        played=report.played, not_served=report.listeners_requested - report.played,
        ttfa_s=report.ttfa_s, stalls=report.stalls, errors=report.errors,
        timeouts=sum(v for k, v in report.errors.items() if k.endswith(":timeout")),
        waited_in_line=report.waited_in_line, shed={k: v for k, v in shed.items() if v},
        origin_joins=after["joins"] - before["joins"], cpu_percent=cpu,
        generator_cpu_percent=report.process["cpu_percent"],
        generator_lag_p99_s=report.process["loop_lag_p99_s"],
        admissions=[s.first_audio for s in timeline])


def _s(v: float | None) -> str:
    return "     -" if v is None else f"{v:6.3f}"


def table(steps: list[StormStep]) -> list[str]:
    lines = [f"{'joins/s':>8} {'N':>6} {'played':>7} {'p50':>6} {'p90':>6} {'p99':>6} "
             f"{'max':>6}  {'origin':>6} {'edge':>6} {'gen':>5} {'lag99':>6}  outcome"]
    for s in steps:
        t = s.ttfa_s
        errs = ", ".join(f"{k} {v}" for k, v in sorted(s.errors.items(), key=lambda kv: -kv[1])
                         [:4])
        shed = ", ".join(f"{k} {v}" for k, v in s.shed.items())
        outcome = ("TIMEOUT/NOT SERVED" if s.failed else "ok") + \
            (f"; errors: {errs}" if errs else "") + (f"; origin shed: {shed}" if shed else "") + \
            (f"; {s.waited_in_line} waited in line" if s.waited_in_line else "") + \
            (" (generator lagging)" if s.generator_lag_p99_s > LAGGING_GENERATOR_S else "")
        lines.append(f"{s.rate:8g} {s.listeners:6d} {s.played:7d} {_s(t.get('p50'))} "
                     f"{_s(t.get('p90'))} {_s(t.get('p99'))} {_s(t.get('max'))}  "
                     f"{s.cpu_percent.get('origin', 0):5.0f}% {s.cpu_percent.get('nginx', 0):5.0f}%"
                     f" {s.generator_cpu_percent:4.0f}% {1000 * s.generator_lag_p99_s:4.0f}ms"
                     f"  {outcome}")
    lines.append("TTFA in seconds, join request -> first part in hand; CPU in % of one core "
                 "over the step (origin, edge nginx, load generator)")
    ok = [s.rate for s in steps if not s.failed]
    first_bad = next((s.rate for s in steps if s.failed), None)
    lines.append(f"highest join rate served without a timeout: {max(ok, default=0):g}/s"
                 + (f"; first failure at {first_bad:g}/s" if first_bad else
                    " (no failure up to the last step)"))
    return lines


def plot(path: Path, steps: list[StormStep], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(14, 5.5))
    rates = [s.rate for s in steps]
    for key, style in (("p50", "o-"), ("p90", "s--"), ("p99", "^-"), ("max", "x:")):
        ax.plot(rates, [s.ttfa_s.get(key) or float("nan") for s in steps], style, label=key)
    for s in steps:
        if s.failed:
            ax.axvline(s.rate, color="red", alpha=0.3)
    ax.set(xscale="log", xlabel=f"joins per second (N = rate x {steps[0].window_s:g} s)",
           ylabel="time to first audio (s)", title="TTFA as the join rate rises (red: failure)")
    ax.set_xticks(rates, [f"{r:g}" for r in rates])
    for s in steps:
        bx.plot(range(1, len(s.admissions) + 1), s.admissions, "o-", markersize=3,
                label=f"{s.rate:g}/s")
    bx.set(xlabel="seconds since the first join", ylabel="listeners hearing audio, per second",
           title="first audio per second (admission curve)")
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
    ap.add_argument("--rates", default=None, help="comma list of joins per second")
    ap.add_argument("--window", type=float, default=WINDOW_S, help="seconds the joins span")
    ap.add_argument("--all-steps", action="store_true", help="keep going after a failure")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()
    rates = tuple(float(x) for x in args.rates.split(",")) if args.rates else \
        QUICK_RATES if args.quick else RATES
    if not rates or not 0.5 <= args.window <= 10 or max(rates) * args.window > 5000:
        ap.error("window 0.5..10 s and at most 5000 joins per step")
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(f"join storm through an edge on {info['cpus']} CPUs: joins spread over "
          f"{args.window:g} s at {', '.join(f'{r:g}' for r in rates)}/s", flush=True)
    budget = len(rates) * (args.window + GRACE_S + 20) + 60
    steps: list[StormStep] = []
    with tempfile.TemporaryDirectory(prefix="townhall-storm-") as tmp_name:
        tmp = Path(tmp_name)
        origin = start_server(tmp / "data", "--attack-mode", "off")
        source: subprocess.Popen[bytes] | None = None
        try:
            edge = start_edge(origin, tmp / "edge")
            try:
                doc = origin.create_space(title="join storm bench", host="bench")
                source = subprocess.Popen(
                    ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", *NOISE, "-t",
                     str(budget), "-ac", "1", "-c:a", "aac", "-b:a", "96k", "-f", "adts",
                     doc["ingest_url"]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                deadline = time.monotonic() + 20
                while not origin.details(doc["id"])["on_air"]:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the space did not go on air")
                    time.sleep(0.2)
                time.sleep(3)  # a few parts in the window
                meter = CpuMeter({"origin": [origin.process.pid], "nginx": [edge.process.pid]})
                for i, rate in enumerate(rates):
                    step = run_step(origin, edge.url, doc["id"], rate, args.window, meter, i)
                    steps.append(step)
                    print("\n".join(table([step])[1:2]), flush=True)
                    if step.failed and not args.all_steps:
                        break
                    time.sleep(STEP_PAUSE_S)
            finally:
                edge.stop()
        finally:
            if source is not None:
                source.kill()
                source.wait(10)
            stop_server(origin)
    lines = table(steps)
    title = (f"join storm through one nginx edge, one townhall origin, on {info['cpus']} CPUs "
             f"({info['cpu_model']}) shared with the load generator")
    (args.out / "join_storm.json").write_text(json.dumps(
        {"machine": info, "window_s": args.window, "grace_s": GRACE_S,
         "steps": [asdict(s) for s in steps], "summary": lines}, indent=1))
    plot(args.out / "join_storm.png", steps, title)
    print("\n".join(lines))
    print(f"wrote {args.out / 'join_storm.json'} and {args.out / 'join_storm.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

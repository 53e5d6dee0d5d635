"""How far one nginx edge and the multi-process load generator go on a big machine: LL-HLS
listeners stepped up, with the edge's CPU per core, requests per edge core-second, stalls,
the generator's own loop lag, and the origin's CPU.

One townhall origin (`--set latency_tier=low`: this measures LL) on air with a paced WAV
tone (`harness/tone_source.py`, no ffmpeg needed); one nginx edge from `townhall edge-config`
with `--edge-workers` worker processes; `townhall loadtest --workers N` (`run_workers`)
for each step `LISTENERS:WORKERS`. With `--edge-cpus`/`--gen-cpus` the edge and the rest
(origin, source, generator) are pinned to disjoint CPUs, so an edge core's work is not mixed
with the generator's. Server CPU is read from /proc per process (nginx workers, origin);
edge cores from /proc/stat (their busy share, softirq included). Each step measures over a
steady window after its joins. Every run is bounded in time and count, loopback only, and
everything started is stopped. Writes edge_scale.{json,png} and prints a table.

Run: .venv/bin/python bench/edge_scale.py --steps 300:1,600:2 --edge-workers 2 (a small
local check); the 16-core run is in docs/benchmarks.md (issue 12).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.deployments import CpuMeter
from harness.server import Server, free_port, start_server, stop_process, stop_server
from harness.tone_source import ToneSource
from townhall.loadtest import LoadConfig, LoadReport, eventloop, run_load
from townhall.loadtest.metrics import Second
from townhall.loadtest.workers import run_workers

ROOT = Path(__file__).resolve().parent.parent

JOINS_PER_S = 500.0  # listeners of a step arrive over N / this seconds
SETTLE_S = 5.0
MEASURE_S = 20.0
STEP_PAUSE_S = 3.0


def cpus(spec: str | None) -> set[int] | None:
    """'0-7' or '0,2,4' -> {0..7}."""
    if not spec:
        return None
    out: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


def core_busy() -> dict[int, tuple[float, float]]:
    """Per CPU: (busy jiffies, total jiffies) from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *vals = line.split()
            v = [float(x) for x in vals[:8]]
            out[int(name[3:])] = (sum(v) - v[3] - v[4], sum(v))  # minus idle and iowait
    return out


def start_edge(origin: Server, prefix: Path, nginx: str, workers: int,
               pin: set[int] | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    subprocess.run([sys.executable, "-m", "townhall.cli", "edge-config", "--origin",
                    origin.base_url.removeprefix("http://"), "--listen", f"127.0.0.1:{port}",
                    "--prefix", str(prefix), "--data-dir", str(origin.data_dir),
                    "--worker-connections", "65536", "--rlimit-nofile", "131072"],
                   check=True, capture_output=True)
    conf = prefix / "nginx.conf"
    conf.write_text(conf.read_text().replace("worker_processes auto;",
                                             f"worker_processes {workers};"))
    proc = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(prefix), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, pin)) if pin else None)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {(prefix / 'error.log').read_text()[-2000:]}")
        try:
            if "x-cache" in httpx.get(url + "/", timeout=1).headers:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_process(proc)
    raise RuntimeError("nginx did not start")


@dataclass
class Step:
    listeners: int
    workers: int
    played: int
    stalls: int
    stalls_generator_lag: int
    listeners_with_stalls: int
    errors: dict[str, int]
    window_s: float
    requests_per_s: float
    edge_cpu_cores: float  # nginx CPU-s per second in the window (all workers)
    edge_requests_per_core_s: float  # requests answered per nginx CPU-second
    edge_worker_cpu_percent: list[float]  # each nginx worker, % of one core
    edge_cores_busy_percent: list[float]  # the pinned edge CPUs (/proc/stat), if pinned
    origin_cpu_percent: float
    generator_cpu_percent: float  # all workers, % of one core (whole run)
    generator_us_per_request: float
    generator_loop_lag_p50_s: float | None
    generator_loop_lag_p99_s: float | None
    generator_loop_lag_max_s: float | None
    ttfa_p50_s: float | None
    ttfa_p99_s: float | None
    live_edge_p50_s: float | None
    live_edge_p95_s: float | None
    kbit_per_listener: float


def run_step(url: str, space: str, n: int, workers: int, meter: CpuMeter,
             edge_cpus: set[int] | None) -> tuple[Step, LoadReport]:
    join_s = max(1.0, n / JOINS_PER_S)
    config = LoadConfig(target=url, space=space, listeners=n,
                        duration_s=join_s + SETTLE_S + MEASURE_S, join_window_s=join_s,
                        listener_network=20, seed=n)
    marks: dict[int, tuple[dict[str, float], dict[int, tuple[float, float]]]] = {}

    def on_second(s: Second) -> None:
        marks[s.t] = (meter.read(), core_busy())

    marks[0] = (meter.read(), core_busy())
    if workers > 1:
        report = run_workers(config, workers, on_second=on_second)
    else:
        report = eventloop.run(run_load(config, on_second=on_second))
    first = int(join_s + SETTLE_S + 0.999)
    last = max(t for t in marks if t <= len(report.timeline))
    span = float(last - first)
    (cpu0, core0), (cpu1, core1) = marks[first], marks[last]
    window = [s for s in report.timeline if first < s.t <= last]
    reqs = sum(s.requests for s in window)
    edge = sum(cpu1[r] - cpu0[r] for r in cpu1 if r.startswith("nginx"))
    listener_s = sum(s.listeners.get("playing", 0) for s in window)
    p, lag = report.process, report.loop_lag_s
    step = Step(
        listeners=n, workers=workers, played=report.played, stalls=report.stalls,
        stalls_generator_lag=report.stalls_generator_lag,
        listeners_with_stalls=report.listeners_with_stalls, errors=report.errors,
        window_s=span, requests_per_s=round(reqs / span, 1),
        edge_cpu_cores=round(edge / span, 3),
        edge_requests_per_core_s=round(reqs / max(edge, 1e-9)),
        edge_worker_cpu_percent=sorted((round(100 * (cpu1[r] - cpu0[r]) / span, 1)
                                        for r in cpu1 if r.startswith("nginx:")),
                                       reverse=True),
        edge_cores_busy_percent=[round(100 * (core1[c][0] - core0[c][0])
                                       / max(core1[c][1] - core0[c][1], 1e-9), 1)
                                 for c in sorted(edge_cpus or ())],
        origin_cpu_percent=round(100 * (cpu1["origin"] - cpu0["origin"]) / span, 1),
        generator_cpu_percent=p.get("cpu_percent", 0.0),
        generator_us_per_request=round(1e6 * p.get("cpu_s", 0.0) / max(1, report.requests),
                                       1),
        generator_loop_lag_p50_s=lag.get("p50"), generator_loop_lag_p99_s=lag.get("p99"),
        generator_loop_lag_max_s=lag.get("max"),
        ttfa_p50_s=report.ttfa_s.get("p50"), ttfa_p99_s=report.ttfa_s.get("p99"),
        live_edge_p50_s=report.live_edge_s.get("p50"),
        live_edge_p95_s=report.live_edge_s.get("p95"),
        kbit_per_listener=round(8 * sum(s.bytes for s in window) / max(listener_s, 1) / 1000,
                                1))
    return step, report


def row(s: Step) -> str:
    lag = s.generator_loop_lag_p99_s
    return (f"N={s.listeners:6d} workers {s.workers:2d} played {s.played:6d} stalls "
            f"{s.stalls} ({s.stalls_generator_lag} with generator lag) | "
            f"{s.requests_per_s:8.0f} req/s, edge {s.edge_cpu_cores:.2f} cores -> "
            f"{s.edge_requests_per_core_s:6d} req per edge core-s | origin "
            f"{s.origin_cpu_percent:.0f}% | generator {s.generator_cpu_percent:.0f}% "
            f"{s.generator_us_per_request:.0f} us/req lag p99 "
            f"{'-' if lag is None else f'{1000 * lag:.0f} ms'} | live edge p50 "
            f"{s.live_edge_p50_s} | {s.kbit_per_listener} kb/s"
            + (f" | errors {s.errors}" if s.errors else ""))


def plot(path: Path, steps: list[Step]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
    xs = [s.listeners for s in steps]
    ax.plot(xs, [s.requests_per_s for s in steps], "o-", label="requests/s answered")
    ax.plot(xs, [s.edge_requests_per_core_s for s in steps], "s--",
            label="requests per edge core-second")
    ax.set(xlabel="LL listeners", ylabel="per second", title="edge throughput")
    bx.plot(xs, [s.edge_cpu_cores * 100 for s in steps], "o-", label="edge (nginx) CPU %")
    bx.plot(xs, [s.origin_cpu_percent for s in steps], "s-", label="origin CPU %")
    bx.plot(xs, [s.generator_cpu_percent for s in steps], "^-", label="generator CPU %")
    bx.set(xlabel="LL listeners", ylabel="% of one core", title="CPU by role")
    for a in (ax, bx):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--steps", default="300:1,600:2", help="LISTENERS:WORKERS,...")
    ap.add_argument("--edge-workers", type=int, default=2)
    ap.add_argument("--edge-cpus", default=None, help="pin nginx to these CPUs, e.g. 0-7")
    ap.add_argument("--gen-cpus", default=None, help="pin the rest to these CPUs, e.g. 8-15")
    ap.add_argument("--nginx", default="nginx")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args()
    steps = [(int(a), int(b)) for a, _, b in (x.partition(":") for x in args.steps.split(","))]
    if not steps or any(not 1 <= n <= 40_000 or not 1 <= w <= 32 for n, w in steps):
        ap.error("steps: LISTENERS:WORKERS with 1..40000 listeners and 1..32 workers")
    edge_cpus, gen_cpus = cpus(args.edge_cpus), cpus(args.gen_cpus)
    if gen_cpus:
        os.sched_setaffinity(0, gen_cpus)  # the origin, source and workers inherit it
    args.out.mkdir(parents=True, exist_ok=True)
    total_s = sum(n / JOINS_PER_S + SETTLE_S + MEASURE_S + 20 for n, _ in steps) + 120
    results: dict[str, Any] = {"cpus": os.cpu_count(), "edge_workers": args.edge_workers,
                               "edge_cpus": args.edge_cpus, "gen_cpus": args.gen_cpus,
                               "loop": eventloop.loop_name(), "steps": []}
    print(f"edge scale on {os.cpu_count()} CPUs: edge {args.edge_workers} workers "
          f"(cpus {args.edge_cpus or 'any'}), generator and origin on {args.gen_cpus or 'any'}, "
          f"loop {eventloop.loop_name()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="townhall-edge-scale-") as tmp_name:
        tmp = Path(tmp_name)
        for d in (tmp,):
            d.chmod(0o755)
        origin = start_server(tmp / "data", "--attack-mode", "off", "--set", "latency_tier=low")
        tone: ToneSource | None = None
        edge: subprocess.Popen[bytes] | None = None
        try:
            doc = origin.create_space(title="edge scale", host="bench")
            tone = ToneSource(doc["ingest_url"], total_s)
            tone.start()
            origin.wait_on_air(doc["id"], timeout=30)
            edge, url = start_edge(origin, tmp / "edge", args.nginx, args.edge_workers,
                                   edge_cpus)
            time.sleep(3)
            workers = [p for p in CpuMeter({"e": [edge.pid]}).pids["e"] if p != edge.pid]
            meter = CpuMeter({"origin": [origin.process.pid],
                              **{f"nginx:{p}": [p] for p in workers}})
            for n, w in steps:
                step, report = run_step(url, doc["id"], n, w, meter, edge_cpus)
                results["steps"].append(asdict(step))
                print(row(step), flush=True)
                for line in report.stall_seconds()[:5]:
                    print("    " + line, flush=True)
                (args.out / "edge_scale.json").write_text(json.dumps(results, indent=1))
                time.sleep(STEP_PAUSE_S)
        finally:
            if tone is not None:
                tone.stop()
            if edge is not None:
                stop_process(edge)
            stop_server(origin)
    done = [Step(**s) for s in results["steps"]]
    plot(args.out / "edge_scale.png", done)
    print(f"wrote {args.out / 'edge_scale.json'} and {args.out / 'edge_scale.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

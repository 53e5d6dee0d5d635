"""Fan-out cost: server CPU per listener-hour, and the largest stall-free audience, side by side.

One run, one machine, the same 64 kb/s audio (ffmpeg -re, pink noise so encoders spend their
whole bitrate), five deployments stepped through the same listener counts:

- (a) Icecast2 (the Debian package) serving an MP3 64 kb/s CBR mount to N progressive-HTTP
  listeners. A listener plays once it holds a 2 s prebuffer (Icecast's burst-on-connect
  gives it at once) and stalls when bytes stop arriving before its buffer runs dry: the
  loadtest's `Playback` clock fed with byte offsets at 8000 bytes per second of audio.
- (b) nginx serving the same audio as static HLS files (ffmpeg writes a live fMP4 playlist
  with 2 s segments); N plain-HLS players: the loadtest's own `Player` in plain mode
  (reload every target duration, whole segments, three target durations behind).
- (c) a townhall origin alone, N LL-HLS listeners (`townhall.loadtest.run_load`).
- (d) the same origin behind its nginx edge (`townhall edge-config`), N LL-HLS listeners.
- (e) the same edge, the standard latency tier: the operator switches the space to it
  (`PUT /api/admin/latency-tier`), listeners follow the details to `standard.m3u8` (whole
  2.24 s segments, the request pattern of (b)).

Server CPU is read from /proc (utime + stime) of the server processes only: icecast2; the
nginx master and workers; the origin's process tree; origin + edge for (d)/(e). The sources
(ffmpeg) and the load generator (this process) are not counted, but the generator's own CPU
and event-loop lag are reported: a lagging generator makes stalls of its own. CPU is taken
over a steady window of each step (after the joins) and divided by the listener-seconds
played in it: CPU-seconds per listener-hour. "Marginal" subtracts the server's idle rate
(measured with the stream on and no listener), which is large for townhall: the origin
decodes, mixes, encodes and packages the stream itself, work ffmpeg does in (a) and (b).

Each deployment steps N up (default 100, 200, 400, 800, 1600) and stops after the first step
with a stall or a listener that never played. Every load loop is bounded in count and time;
every server runs on loopback and is stopped at the end. Outputs bench/out/fanout.{png,json}.
Run: .venv/bin/python bench/fanout.py            (about 10 min)
     .venv/bin/python bench/fanout.py --quick    (about 3 min)

Deployments and CPU metering are in harness/deployments.py, the (a)/(b) listeners in
harness/followers.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.deployments import (
    BITRATE,
    PREBUFFER_S,
    CpuMeter,
    Deployment,
    icecast,
    static_hls,
    townhall,
)
from harness.edge import start_edge
from harness.followers import (
    Follower,
    ProgressiveListener,
    Run,
    StaticHlsListener,
    run_followers,
)
from harness.machine import machine
from harness.marks import MarkedSource
from harness.probes import make_probes, run_probes
from harness.server import Server
from townhall.loadtest import LoadConfig, eventloop, run_load
from townhall.loadtest.addresses import AddressPool
from townhall.loadtest.metrics import Second, Tally, percentile
from townhall.loadtest.safety import check_target
from townhall.loadtest.workers import run_workers

ROOT = Path(__file__).resolve().parent.parent

OUT_DIR = ROOT / "bench" / "out"
STEPS = (100, 200, 400, 800, 1600)
QUICK_STEPS = (200, 800)
JOINS_PER_S = 400.0  # listeners of a step arrive over N / this seconds (at least 1 s)
SETTLE_S = 3.0  # after the last join, before the CPU window opens
MEASURE_S, QUICK_MEASURE_S = 12.0, 8.0  # the CPU window of each step
IDLE_S, QUICK_IDLE_S = 5.0, 3.0  # stream on, no listener: the server's idle CPU
STEP_PAUSE_S = 2.0  # between steps: connections closed, seats given back
LAGGING_GENERATOR_S = 0.1  # generator loop lag p99 above this: its stalls may be its own
NETWORKS = {"a": 30, "b": 40, "c": 50, "d": 60, "e": 70}  # 127.<n>.x.y per deployment
NAMES = {"a": "Icecast2, progressive MP3", "b": "nginx, static plain HLS",
         "c": "townhall origin, LL-HLS", "d": "townhall + nginx edge, LL-HLS",
         "e": "townhall + edge, standard tier"}


# --- one step: N listeners against one deployment ---


@dataclass
class Step:
    deployment: str
    listeners: int
    clean: bool  # everyone played, no stall
    played: int
    stalls: int
    stalled_s: float
    listeners_with_stalls: int
    errors: int
    ttfa_p50_s: float | None
    ttfa_p99_s: float | None
    live_edge_p50_s: float | None  # wall clock minus the PDT being played (HLS only)
    live_edge_p95_s: float | None
    window_s: float
    listener_s: float  # listener-seconds played in the CPU window
    cpu_s: dict[str, float]  # server CPU in the window, by role
    cpu_percent: dict[str, float]  # of one core, by role
    cpu_s_per_listener_hour: float
    edge_cpu_s_per_listener_hour: float | None  # the nginx edge alone (d, e)
    marginal_cpu_s_per_listener_hour: float  # above the server's idle rate
    requests_per_listener_s: float
    kbit_per_listener: float  # delivered bytes, per playing listener
    generator_cpu_percent: float
    generator_lag_p99_s: float
    generator_bound: bool
    error_kinds: dict[str, int] = field(default_factory=dict)
    # glass to glass: a marked sound pushed into the source's encoder -> heard by a probe
    # listener (its fetched audio decoded, the mark found, its own playback clock)
    g2g_p50_s: float | None = None
    g2g_p95_s: float | None = None
    g2g_marks: int = 0  # marks heard, over all probes
    g2g_probes: int = 0  # probes that heard at least one mark
    push_to_program_p50_s: float | None = None  # of that: push -> its program date-time


async def run_step(dep: Deployment, n: int, measure_s: float, idle: dict[str, float],
                   workers: int = 1, probes: int = 0,
                   marked: list[MarkedSource] | None = None) -> Step:
    join_s = max(1.0, n / JOINS_PER_S)
    duration = join_s + SETTLE_S + measure_s
    meter = CpuMeter(dep.roles)
    cpu: dict[int, dict[str, float]] = {0: meter.read()}

    def on_second(s: Second) -> None:
        cpu[s.t] = meter.read()

    network = NETWORKS[dep.key]
    config = LoadConfig(
        target=dep.target.url, space=dep.space or "-", listeners=n, duration_s=duration,
        join_window_s=join_s, mode="plain" if dep.key == "e" else "ll",
        listener_network=network, seed=n)
    probing = make_probes(dep.key, dep.target, probes, space=dep.space, path=dep.path,
                          config=config)
    probe_run = run_probes(probing, join_s + 1.0, duration - 0.5)
    if dep.key in ("a", "b"):
        tally = Tally()
        pool = AddressPool(network, n, 100)
        followers: list[Follower] = [
            ProgressiveListener(dep.target, dep.path, pool.address(i), tally) if dep.key == "a"
            else StaticHlsListener(dep.target, pool.address(i), tally) for i in range(n)]
        run, _ = await asyncio.gather(run_followers(followers, duration, join_s, tally,
                                                    on_second), probe_run)
    else:
        if workers > 1:  # `townhall loadtest --workers`: the generator in several processes
            report, _ = await asyncio.gather(
                asyncio.to_thread(run_workers, config, workers, on_second), probe_run)
        else:
            report, _ = await asyncio.gather(run_load(config, on_second=on_second), probe_run)
        run = Run(report.timeline, report.played, report.failed, report.stalls,
                  report.listeners_with_stalls, report.errors, report.ttfa_s,
                  report.live_edge_s, report.stalled_s, report.process["cpu_percent"],
                  report.process["loop_lag_p99_s"])
    first = int(join_s + SETTLE_S + 0.999)
    last = max(t for t in cpu if t <= len(run.timeline))
    window = [s for s in run.timeline if first < s.t <= last]
    span = float(last - first)
    used = {r: cpu[last][r] - cpu[first][r] for r in dep.roles}
    listener_s = float(sum(s.listeners.get("playing", 0) for s in window))
    per_hour = 3600 / max(listener_s, 1e-9)
    total = sum(used.values())
    idle_total = sum(idle.values()) * span
    lagging = run.generator_lag_p99_s > LAGGING_GENERATOR_S
    pushes = list(marked[0].pushes) if marked else []
    heard = [p.heard(pushes) for p in probing]
    g2g = [x.latency for h in heard for x in h]
    to_program = [x.to_program for h in heard for x in h if x.to_program is not None]
    return Step(
        deployment=dep.key, listeners=n, clean=run.played == n and run.stalls == 0,
        played=run.played, stalls=run.stalls, stalled_s=run.stalled_s,
        listeners_with_stalls=run.listeners_with_stalls, errors=sum(run.errors.values()),
        ttfa_p50_s=run.ttfa_s.get("p50"), ttfa_p99_s=run.ttfa_s.get("p99"),
        live_edge_p50_s=run.live_edge_s.get("p50"), live_edge_p95_s=run.live_edge_s.get("p95"),
        window_s=span, listener_s=listener_s,
        cpu_s={r: round(v, 3) for r, v in used.items()},
        cpu_percent={r: round(100 * v / span, 1) for r, v in used.items()},
        cpu_s_per_listener_hour=round(total * per_hour, 3),
        edge_cpu_s_per_listener_hour=round(used["nginx"] * per_hour, 3)
        if dep.key in "de" else None,
        marginal_cpu_s_per_listener_hour=round(max(0.0, total - idle_total) * per_hour, 3),
        requests_per_listener_s=round(sum(s.requests for s in window) / max(listener_s, 1), 3),
        kbit_per_listener=round(8 * sum(s.bytes for s in window) / max(listener_s, 1) / 1000, 1),
        generator_cpu_percent=run.generator_cpu_percent,
        generator_lag_p99_s=round(run.generator_lag_p99_s, 4), generator_bound=lagging,
        error_kinds=dict(sorted(run.errors.items(), key=lambda kv: -kv[1])[:6]),
        g2g_p50_s=_r(percentile(g2g, 50)), g2g_p95_s=_r(percentile(g2g, 95)),
        g2g_marks=len(g2g), g2g_probes=sum(1 for h in heard if h),
        push_to_program_p50_s=_r(percentile(to_program, 50)))


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def set_tier(origin: Server, space: str, mode: str) -> None:
    """The operator's latency tier for the space (new joiners follow the details)."""
    key = (origin.data_dir / "admin.key").read_text().strip()
    res = httpx.put(f"{origin.base_url}/api/admin/latency-tier", json={"mode": mode,
                    "space": space}, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    res.raise_for_status()
    time.sleep(1.5)  # the details are re-rendered and the edge's copy expires


async def idle_rate(dep: Deployment, seconds: float) -> dict[str, float]:
    """CPU seconds per second of each role with the stream on and nobody listening."""
    meter = CpuMeter(dep.roles)
    before = meter.read()
    await asyncio.sleep(seconds)
    after = meter.read()
    return {r: (after[r] - before[r]) / seconds for r in dep.roles}


def run_deployment(dep: Deployment, steps: tuple[int, ...], args: argparse.Namespace,
                   results: dict[str, Any], marked: list[MarkedSource]) -> None:
    idle_s = QUICK_IDLE_S if args.quick else IDLE_S
    measure_s = QUICK_MEASURE_S if args.quick else MEASURE_S
    idle = eventloop.run(idle_rate(dep, idle_s))
    results["idle_cpu_percent"][dep.key] = {r: round(100 * v, 1) for r, v in idle.items()}
    print(f"({dep.key}) {NAMES[dep.key]}: idle server CPU "
          + ", ".join(f"{r} {100 * v:.1f}%" for r, v in idle.items()), flush=True)
    for n in steps:
        step = eventloop.run(run_step(dep, n, measure_s, idle, args.workers, args.probes,
                                      marked))
        results["steps"].append(asdict(step))
        print("    " + _row(step), flush=True)
        if not step.clean and not args.all_steps:
            break
        time.sleep(STEP_PAUSE_S)


# --- report ---


def _row(s: Step) -> str:
    cpu = " ".join(f"{r} {p:5.1f}%" for r, p in s.cpu_percent.items())
    flag = "" if s.clean else "  STALLS" if s.played == s.listeners else "  NOT ALL PLAYED"
    if s.errors:
        flag += f"  errors {s.errors} ({', '.join(s.error_kinds)})"
    if s.generator_bound:
        flag += " (generator lagging)"
    ttfa = "-" if s.ttfa_p50_s is None else f"{s.ttfa_p50_s:.3f}"
    edge = "-" if s.live_edge_p50_s is None else f"{s.live_edge_p50_s:.2f}"
    return (f"N={s.listeners:5d} played {s.played:5d} stalls {s.stalls:4d} ttfa p50 {ttfa}s "
            f"live edge p50 {edge}s "
            f"cpu/listener-h {s.cpu_s_per_listener_hour:8.2f}s"
            + ("" if s.edge_cpu_s_per_listener_hour is None else
               f" edge {s.edge_cpu_s_per_listener_hour:.2f}s")
            + " (marginal "
            f"{s.marginal_cpu_s_per_listener_hour:7.2f}s) [{cpu}] req/listener-s "
            f"{s.requests_per_listener_s:.2f} {s.kbit_per_listener:.0f} kb/s; generator "
            f"{s.generator_cpu_percent:.0f}% lag p99 {1000 * s.generator_lag_p99_s:.0f} ms"
            + ("" if s.g2g_p50_s is None or s.g2g_p95_s is None else
               f"; glass-to-glass p50 {s.g2g_p50_s:.2f}s p95 {s.g2g_p95_s:.2f}s "
               f"({s.g2g_marks} marks, push->PDT p50 {s.push_to_program_p50_s})") + flag)


def summarize(steps: list[Step], counts: tuple[int, ...]) -> list[str]:
    by = {k: [s for s in steps if s.deployment == k] for k in NAMES}
    lines = [f"{'deployment':36} {'largest N':>9}   server CPU-s per listener-hour at N",
             f"{'':36} {'no stall':>9} " + "".join(f"{n:>8}" for n in counts)]
    for k, rows in by.items():
        if not rows:
            continue
        clean = [s.listeners for s in rows if s.clean]
        top = max(clean, default=0)
        ran_out = rows[-1].clean and rows[-1].listeners == top
        cells = {s.listeners: f"{s.cpu_s_per_listener_hour:.2f}" + ("" if s.clean else "!")
                 for s in rows}
        lines.append(f"({k}) {NAMES[k]:32} {('>=' if ran_out else '') + str(top):>9} "
                     + "".join(f"{cells.get(n, '-'):>8}" for n in counts))
    lines.append("  ('!': that step stalled or not everyone played; '>=': every step was clean)")
    lines.append("marginal (above the idle server) CPU-s per listener-hour:")
    for k, rows in by.items():
        marginal = {s.listeners: f"{s.marginal_cpu_s_per_listener_hour:.2f}" for s in rows}
        if rows:
            lines.append(f"({k}) {NAMES[k]:32} {'':>9} "
                         + "".join(f"{marginal.get(n, '-'):>8}" for n in counts))
    for num, den in (("d", "b"), ("d", "a"), ("e", "b"), ("c", "d")):
        lines.append(_ratio(by[num], by[den], num, den))
    return lines


DESIGNS = {"a": "Icecast2", "b": "static nginx HLS", "c": "LL at the origin",
           "d": "LL through the edge", "e": "standard tier"}


def design_table(steps: list[Step]) -> list[str]:
    """One row per design, at its largest step where everyone played without a stall (else
    its first step, marked '!'): the issue's table."""
    head = ("| design | N | edge CPU-s per listener-hour | all servers | wire kb/s | "
            "requests per listener-s | live edge p50 | glass-to-glass p50 / p95 (marks) |")
    lines = [head, "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for k, name in DESIGNS.items():
        rows = [s for s in steps if s.deployment == k]
        if not rows:
            continue
        clean = [s for s in rows if s.clean]
        s = max(clean, key=lambda r: r.listeners) if clean else rows[0]
        edge = s.edge_cpu_s_per_listener_hour
        if edge is None:  # Icecast, static nginx, the origin alone: the server is the edge
            edge = s.cpu_s_per_listener_hour
        le = "-" if s.live_edge_p50_s is None else f"{s.live_edge_p50_s:.2f} s"
        g2g = "-" if s.g2g_p50_s is None or s.g2g_p95_s is None else \
            f"{s.g2g_p50_s:.2f} / {s.g2g_p95_s:.2f} s ({s.g2g_marks})"
        lines.append(f"| {name} | {s.listeners}{'' if s.clean else '!'} | {edge:.2f} | "
                     f"{s.cpu_s_per_listener_hour:.2f} | {s.kbit_per_listener:.0f} | "
                     f"{s.requests_per_listener_s:.2f} | {le} | {g2g} |")
    return lines


def _ratio(num: list[Step], den: list[Step], a: str, b: str) -> str:
    pairs = [(x, y) for x in num for y in den if x.listeners == y.listeners and x.clean
             and y.clean]
    if not pairs:
        return f"({a})/({b}): no listener count where both ran clean"
    x, y = max(pairs, key=lambda p: p[0].listeners)
    tot = x.cpu_s_per_listener_hour / max(y.cpu_s_per_listener_hour, 1e-9)
    marg = x.marginal_cpu_s_per_listener_hour / max(y.marginal_cpu_s_per_listener_hour, 1e-9)
    return (f"({a})/({b}) CPU per listener-hour at N={x.listeners}: x{tot:.2f} total, "
            f"x{marg:.2f} marginal")


def plot(path: Path, steps: list[Step], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx, gx) = plt.subplots(1, 3, figsize=(19, 5.5))
    for k, name in NAMES.items():
        rows = [s for s in steps if s.deployment == k]
        if not rows:
            continue
        xs = [s.listeners for s in rows]
        line, = ax.plot(xs, [s.cpu_s_per_listener_hour for s in rows], "o-",
                        label=f"({k}) {name}")
        for s in rows:
            if not s.clean:
                ax.plot(s.listeners, s.cpu_s_per_listener_hour, "rx", markersize=12)
        for role in rows[0].cpu_percent:
            bx.plot(xs, [s.cpu_percent[role] for s in rows], "o-" if role != "origin" else "s--",
                    color=line.get_color(), label=f"({k}) {role}")
    g2g = [(DESIGNS[k], [s for s in steps if s.deployment == k and s.g2g_p50_s is not None])
           for k in DESIGNS]
    g2g = [(name, rows) for name, rows in g2g if rows]
    for i, (_name, rows) in enumerate(g2g):
        s = max(rows, key=lambda r: r.listeners)
        gx.bar(i - 0.2, s.g2g_p50_s or 0, 0.4, color="tab:blue", label="p50" if i == 0 else None)
        gx.bar(i + 0.2, s.g2g_p95_s or 0, 0.4, color="tab:orange",
               label="p95" if i == 0 else None)
        gx.text(i, (s.g2g_p95_s or 0) + 0.1, f"N={s.listeners}", ha="center", fontsize=7)
    gx.set_xticks(range(len(g2g)), [name for name, _ in g2g], rotation=15, fontsize=8)
    gx.set(ylabel="seconds, marked sound pushed -> heard",
           title="glass to glass (probes decode their audio)")
    gx.grid(alpha=0.3, axis="y")
    gx.legend(fontsize=7)
    ax.set(xscale="log", yscale="log", xlabel="listeners",
           ylabel="server CPU-seconds per listener-hour", title="fan-out cost (x: stalls)")
    bx.set(xscale="log", xlabel="listeners", ylabel="server CPU, % of one core",
           title="server CPU as listeners grow")
    for a in (ax, bx):
        a.grid(alpha=0.3, which="both")
        a.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)




def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help=f"steps {QUICK_STEPS}, shorter windows")
    ap.add_argument("--steps", default=None, help="comma list of listener counts")
    ap.add_argument("--only", default="abcde", help="deployments to run, e.g. 'bd'")
    ap.add_argument("--all-steps", action="store_true", help="keep stepping after a stall")
    ap.add_argument("--hold-back-parts", type=float, default=3.0,
                    help="the origin's PART-HOLD-BACK in parts (find the smallest that never "
                         "stalls behind the edge)")
    ap.add_argument("--workers", type=int, default=1,
                    help="townhall listeners in this many processes (loadtest --workers)")
    ap.add_argument("--probes", type=int, default=4,
                    help="glass-to-glass probe listeners per step (decode what they get)")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()
    steps = tuple(int(x) for x in args.steps.split(",")) if args.steps else \
        QUICK_STEPS if args.quick else STEPS
    if not steps or max(steps) > 5000 or min(steps) < 1 or not set(args.only) <= set(NAMES):
        ap.error("steps must be 1..5000 listeners; --only takes letters of abcde")
    if not 0 <= args.probes <= 20 or not 1 <= args.workers <= 64:
        ap.error("--probes 0..20, --workers 1..64")
    measure = QUICK_MEASURE_S if args.quick else MEASURE_S
    budget = len(steps) * (max(steps) / JOINS_PER_S + SETTLE_S + measure + 15) + 120
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "steps": [], "idle_cpu_percent": {},
                               "settings": {"steps": steps, "measure_s": measure,
                                            "settle_s": SETTLE_S, "joins_per_s": JOINS_PER_S,
                                            "prebuffer_s": PREBUFFER_S, "bitrate": BITRATE,
                                            "hold_back_parts": args.hold_back_parts,
                                            "workers": args.workers, "probes": args.probes}}
    m = results["machine"]
    print(f"fan-out on {m['cpus']} CPUs ({m['cpu_model']}), steps {steps}; servers, sources "
          "and the load generator share them", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="townhall-fanout-") as tmp_name:
        tmp = Path(tmp_name)
        marked: list[MarkedSource] = []  # the marked source of each design (its pushes)
        if "a" in args.only:
            with icecast(tmp / "a", budget, marked) as dep:
                run_deployment(dep, steps, args, results, marked)
        if "b" in args.only:
            marked = []
            with static_hls(tmp / "b", budget, marked) as dep:
                run_deployment(dep, steps, args, results, marked)
        if set("cde") & set(args.only):
            extra = ("--set", f"part_hold_back_parts={args.hold_back_parts}")
            marked = []
            with townhall(tmp / "c", budget * 3, *extra, marked=marked) as (origin, space):
                if "c" in args.only:
                    run_deployment(Deployment("c", check_target(origin.base_url),
                                              {"origin": [origin.process.pid]}, space),
                                   steps, args, results, marked)
                edge = start_edge(origin, tmp / "edge")
                try:
                    for key in "de":
                        if key in args.only:
                            set_tier(origin, space, "standard" if key == "e" else "low")
                            run_deployment(Deployment(key, check_target(edge.url), {
                                "origin": [origin.process.pid], "nginx": [edge.process.pid]},
                                space), steps, args, results, marked)
                finally:
                    edge.stop()
    steps_done = [Step(**s) for s in results["steps"]]
    lines = [*summarize(steps_done, steps), "", *design_table(steps_done)]
    lines.append(f"wall time {time.monotonic() - started:.0f} s; {m['cpus']} CPUs shared by "
                 "servers, sources and the generator")
    results["summary"] = lines
    title = (f"fan-out of one 64 kb/s stream on {m['cpus']} CPUs ({m['cpu_model']}); servers, "
             "sources and load generator on the same machine")
    (args.out / "fanout.json").write_text(json.dumps(results, indent=1))
    plot(args.out / "fanout.png", steps_done, title)
    print("\n".join(lines))
    print(f"wrote {args.out / 'fanout.json'} and {args.out / 'fanout.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`run_workers`: one load run spread over N processes, merged into one report and one timeline.

One asyncio process tops out at a few thousand simulated LL listeners (6.25 requests a second
each); a big edge needs more. Worker k runs `run_load` on its share of the listeners, from
its own range of source addresses (distinct from every other worker's), with its own seed;
only worker 0 runs the attackers. Every second each worker sends its `Second` to the parent,
which merges the seconds of all workers (counts summed, percentiles of the second are the
worst worker's) for the progress display; at the end the reports are merged, percentiles
over every raw sample. Workers are started with `spawn` (no inherited event loop) and
stopped, killed if need be, whatever happens. Loopback only: each worker checks its config.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import queue
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from townhall.loadtest.config import LoadConfig
from townhall.loadtest.metrics import Second, percentile, summary
from townhall.loadtest.report import LoadReport

MAX_WORKERS = 64
START_GRACE_S = 60.0  # a worker's import and start-up, beyond the run's own duration
Message = tuple[str, int, Any]


def shares(config: LoadConfig, workers: int) -> list[LoadConfig]:
    """The config of each worker: listeners split evenly (same join window, so the overall
    join rate is kept), source addresses in disjoint 127.x ranges, attackers on worker 0."""
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be 1..{MAX_WORKERS}")
    if workers > max(1, config.listeners):
        raise ValueError("more workers than listeners")
    counts = [config.listeners // workers + (k < config.listeners % workers)
              for k in range(workers)]
    span = max(dataclasses.replace(config, listeners=n).listener_pool().networks for n in counts)
    octets = -(-span // 256)  # second octets one worker's pool may cover
    if config.listener_network + workers * octets - 1 > 255:
        raise ValueError("the workers' source addresses do not fit in 127.0.0.0/8: use a "
                         "lower --listener-network or fewer --listener-addresses")
    out = []
    for k, n in enumerate(counts):
        addresses = None if config.listener_addresses is None else max(
            1, config.listener_addresses // workers)
        out.append(dataclasses.replace(config,
            listeners=n, listener_network=config.listener_network + k * octets,
            listener_addresses=addresses,
            seed=None if config.seed is None else config.seed + k,
            attacks=config.attacks if k == 0 else ()))
    return out


def _worker(k: int, config: dict[str, Any], out: Any) -> None:
    from townhall.loadtest.eventloop import run
    from townhall.loadtest.runner import run_load

    try:
        cfg = LoadConfig.from_dict(config)
        samples: dict[str, list[float]] = {}
        report = run(run_load(
            cfg, on_second=lambda s: out.put(("second", k, dataclasses.asdict(s))),
            samples=samples))
        out.put(("done", k, (report.to_dict(), samples)))
    except BaseException:  # reported to the parent, never lost
        out.put(("crash", k, traceback.format_exc()))


def merge_seconds(seconds: list[Second]) -> Second:
    """The same second of several workers: counts summed, percentiles the worst worker's."""
    def worst(name: str) -> float | None:
        values = [getattr(s, name) for s in seconds if getattr(s, name) is not None]
        return max(values) if values else None

    def sum_dicts(name: str) -> dict[str, int]:
        c: Counter[str] = Counter()
        for s in seconds:
            c.update(getattr(s, name))
        return dict(c)

    return Second(
        t=seconds[0].t, listeners=sum_dicts("listeners"),
        active=sum(s.active for s in seconds), stalled_now=sum(s.stalled_now for s in seconds),
        stalls=sum(s.stalls for s in seconds),
        stalled_s=round(sum(s.stalled_s for s in seconds), 3),
        errors=sum(s.errors for s in seconds), errors_by_kind=sum_dicts("errors_by_kind"),
        first_audio=sum(s.first_audio for s in seconds), ttfa_p50=worst("ttfa_p50"),
        ttfa_p99=worst("ttfa_p99"), live_edge_p50=worst("live_edge_p50"),
        live_edge_p95=worst("live_edge_p95"), requests=sum(s.requests for s in seconds),
        bytes=sum(s.bytes for s in seconds),
        attack_requests=sum(s.attack_requests for s in seconds),
        attack_status=sum_dicts("attack_status"),
        loop_lag_max=max(s.loop_lag_max for s in seconds),
        stalls_generator_lag=sum(s.stalls_generator_lag for s in seconds))


def merge_reports(config: LoadConfig, parts: list[tuple[LoadReport, dict[str, list[float]]]],
                  crashes: list[str]) -> LoadReport:
    reports = [r for r, _ in parts]
    pooled: dict[str, list[float]] = defaultdict(list)
    for _, samples in parts:
        for name, values in samples.items():
            pooled[name] += values

    def total(name: str) -> int:
        return sum(getattr(r, name) for r in reports)

    def counter(name: str) -> dict[str, int]:
        c: Counter[str] = Counter()
        for r in reports:
            c.update(getattr(r, name))
        return dict(c)

    by_t: dict[int, list[Second]] = defaultdict(list)
    for r in reports:
        for s in r.timeline:
            by_t[s.t].append(s)
    first = reports[0] if reports else None
    cpu = sum(r.process.get("cpu_s", 0.0) for r in reports)
    duration = max((r.duration_s for r in reports), default=0.0)
    return LoadReport(
        target=first.target if first else config.target, space=config.space, mode=config.mode,
        started_at=min((r.started_at for r in reports), default=time.time()),
        duration_s=duration, listeners_requested=config.listeners,
        listeners_by_state=counter("listeners_by_state"), admitted=total("admitted"),
        played=total("played"), waited_in_line=total("waited_in_line"),
        failed=total("failed") + config.listeners - sum(r.listeners_requested
                                                        for r in reports),
        ttfa_s=summary(pooled["ttfa"]), stalls=total("stalls"),
        stalls_generator_lag=total("stalls_generator_lag"),
        loop_lag_s=summary(pooled["loop_lag"]),
        stalled_s=round(sum(r.stalled_s for r in reports), 3),
        listeners_with_stalls=total("listeners_with_stalls"), gaps=total("gaps"),
        listener_stalled_max_s=max((r.listener_stalled_max_s for r in reports), default=0.0),
        live_edge_s=summary(pooled["live_edge"]),
        headroom_s=summary(pooled["headroom"], (1, 5, 50)),
        requests=total("requests"), bytes=total("bytes"), errors=counter("errors"),
        events=counter("events"), attack=first.attack if first else {},
        process={"workers": float(len(parts)), "cpu_s": round(cpu, 3),
                 "cpu_percent": round(100 * cpu / max(duration, 1e-9), 1),
                 "max_rss_mb": max((r.process.get("max_rss_mb", 0.0) for r in reports),
                                   default=0.0),
                 "loop_lag_p99_s": percentile(pooled["loop_lag"], 99) or 0.0,
                 "loop_lag_max_s": max(pooled["loop_lag"], default=0.0)},
        timeline=[merge_seconds(by_t[t]) for t in sorted(by_t)],
        crashes=crashes + [c for r in reports for c in r.crashes],
        config=config.to_dict())


def run_workers(config: LoadConfig, workers: int,
                on_second: Callable[[Second], None] | None = None) -> LoadReport:
    """Run `config` over `workers` processes; one merged report. Raises what validate raises
    before starting anything."""
    config.validate()
    configs = shares(config, workers)
    for c in configs:
        c.validate()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(k, c.to_dict(), out), daemon=True)
             for k, c in enumerate(configs)]
    pending: dict[int, dict[int, Second]] = defaultdict(dict)  # t -> worker -> second
    results: dict[int, tuple[LoadReport, dict[str, list[float]]]] = {}
    crashes: list[str] = []
    finished: set[int] = set()
    deadline = time.monotonic() + config.duration_s + START_GRACE_S
    try:
        for p in procs:
            p.start()
        while len(finished) < len(procs) and time.monotonic() < deadline:
            try:
                kind, k, payload = out.get(timeout=0.5)
            except queue.Empty:
                if all(not p.is_alive() for p in procs):
                    break
                continue
            if kind == "second":
                sec = Second(**payload)
                pending[sec.t][k] = sec
                live = len(procs) - len(finished)
                if len(pending[sec.t]) >= live and on_second is not None:
                    on_second(merge_seconds(list(pending.pop(sec.t).values())))
            elif kind == "done":
                report, samples = payload
                results[k] = (LoadReport.from_dict(report), samples)
                finished.add(k)
            else:
                crashes.append(f"worker {k}: {payload}")
                finished.add(k)
    finally:
        for p in procs:
            if p.pid is None:
                continue  # never started (the start of an earlier one failed)
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(5)
    for k in range(len(procs)):
        if k not in results and not any(c.startswith(f"worker {k}:") for c in crashes):
            crashes.append(f"worker {k}: no report (exit code {procs[k].exitcode})")
    return merge_reports(config, [results[k] for k in sorted(results)], crashes)

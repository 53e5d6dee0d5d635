"""`run_load`: N listeners (optionally a join storm) and optional attackers, for a bounded time.

The asyncio edge of the load generator. Checks the config (loopback target) before any
socket, starts listener i at i/N of the join window, runs the attackers, samples a `Second`
of the timeline once a second (handed to `on_second`, e.g. the terminal progress), and at the
deadline cancels everything, closes the books (stalls in progress count), gives seats back
and closes every connection. Stops by itself: nothing outlives the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import time
import traceback
from collections import Counter
from collections.abc import Callable

from townhall.loadtest.attackers import Attackers
from townhall.loadtest.config import LoadConfig
from townhall.loadtest.listener import Listener, State
from townhall.loadtest.metrics import Reservoir, Second, Tally, percentile, summary
from townhall.loadtest.report import LoadReport

WIND_DOWN_S = 5.0  # at most this long for leaves and closes after the deadline
LAG_PROBE_S = 0.05  # the generator times its own event loop this often
EDGE_SAMPLES = 200_000  # live-edge distances kept (a uniform sample) for the run's percentiles
MAX_CRASHES_KEPT = 5


def _raise_open_files() -> None:
    """Thousands of listeners hold two connections each: lift the soft descriptor limit to
    the hard one (a default soft limit of 1024 would end a run of 600 listeners)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if want > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _cpu_s() -> tuple[float, float]:
    """(user, system) CPU seconds of this process: the system share is mostly the loopback
    TCP stack, which runs in the sender's context."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


async def _probe_lag(tally: Tally) -> None:
    """Measure the load generator's own event-loop lag (until cancelled with the run)."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        tally.probe_due = time.time() + LAG_PROBE_S
        await asyncio.sleep(LAG_PROBE_S)
        tally.loop_lag(max(0.0, loop.time() - before - LAG_PROBE_S), time.time())


def _sample(t: int, listeners: list[Listener], tally: Tally,
            edges_seen: Reservoir) -> Second:
    now = time.time()
    states: Counter[str] = Counter(lst.state.value for lst in listeners)
    stalled_now = 0
    edges: list[float] = []
    for lst in listeners:
        playback = lst.player.playback
        if playback is not None and lst.state is State.PLAYING:
            if playback.stalled_at(now):
                stalled_now += 1
            edge = playback.live_edge_distance(now)
            if edge is not None:
                edges.append(edge)
                edges_seen.add(edge)
    return tally.close_second(t, states, stalled_now, edges)


async def run_load(config: LoadConfig,
                   on_second: Callable[[Second], None] | None = None,
                   samples: dict[str, list[float]] | None = None) -> LoadReport:
    """Run the load described by `config` and report; raises NotLoopback/ValueError first.
    `samples`, when given, receives the raw ttfa, live-edge and headroom values (a worker's
    share of a run over several processes, merged by `townhall.loadtest.workers`)."""
    target = config.validate()
    _raise_open_files()
    loop = asyncio.get_running_loop()
    rng = random.Random(config.seed)
    tally = Tally()
    pool = config.listener_pool()
    listeners = [Listener(i, config, target, pool.address(i) if config.bind_sources else None,
                          tally, rng) for i in range(config.listeners)]
    attackers = Attackers(config, target, tally, rng)
    started_at, cpu0, t0 = time.time(), _cpu_s(), loop.time()
    stop_at = t0 + config.duration_s
    n = max(1, config.listeners)
    tasks = [asyncio.create_task(lst.run(config.join_window_s * i / n))
             for i, lst in enumerate(listeners)]
    attack_task = asyncio.create_task(attackers.run(t0, stop_at))
    probe = asyncio.create_task(_probe_lag(tally))
    timeline: list[Second] = []
    edges_seen = Reservoir(EDGE_SAMPLES, random.Random(config.seed))
    crashes: list[str] = []
    try:
        second = 1
        while t0 + second <= stop_at + 1e-6:
            await asyncio.sleep(max(0.0, t0 + second - loop.time()))
            timeline.append(_sample(second, listeners, tally, edges_seen))
            if on_second is not None:
                on_second(timeline[-1])
            second += 1
        await asyncio.sleep(max(0.0, stop_at - loop.time()))
        await asyncio.wait([attack_task])  # its last due requests go out at stop_at
    finally:
        stopped = time.time()
        for task in [*tasks, attack_task, probe]:
            task.cancel()
        results = await asyncio.gather(*tasks, attack_task, probe, return_exceptions=True)
        for res in results:
            if isinstance(res, BaseException) and not isinstance(res, asyncio.CancelledError):
                tally.error(f"crash:{type(res).__name__}")
                if len(crashes) < MAX_CRASHES_KEPT:
                    crashes.append("".join(traceback.format_exception(res)))
        try:
            async with asyncio.timeout(WIND_DOWN_S):
                await asyncio.gather(*(lst.stop(stopped) for lst in listeners),
                                     return_exceptions=True)
        except TimeoutError:
            tally.error("wind_down:timeout")
        for lst in listeners:  # whatever did not finish leaving in time
            await lst.client.close()
        await attackers.close()
    user1, sys1 = _cpu_s()
    user, system = user1 - cpu0[0], sys1 - cpu0[1]
    cpu = user + system
    playbacks = [lst.player.playback for lst in listeners if lst.player.playback is not None]
    if samples is not None:
        samples.update(ttfa=list(tally.ttfa), live_edge=list(edges_seen.values),
                       headroom=[p.min_headroom_s for p in playbacks
                                 if p.min_headroom_s is not None],
                       loop_lag=list(tally.loop_lags))
    elapsed = loop.time() - t0
    return LoadReport(
        target=target.url, space=config.space, mode=config.mode, started_at=started_at,
        duration_s=round(elapsed, 3), listeners_requested=config.listeners,
        listeners_by_state=dict(Counter(lst.state.value for lst in listeners)),
        admitted=sum(1 for lst in listeners if lst.admissions),
        played=sum(1 for lst in listeners if lst.player.ttfa is not None),
        waited_in_line=tally.events.get("waited_in_line", 0),
        failed=sum(1 for lst in listeners if lst.state is State.FAILED),
        ttfa_s=summary(tally.ttfa), stalls=tally.stalls, stalled_s=round(tally.stalled_s, 3),
        stalls_generator_lag=tally.stalls_generator_lag, loop_lag_s=summary(tally.loop_lags),
        listeners_with_stalls=sum(1 for p in playbacks if p.stalls),
        listener_stalled_max_s=round(max((p.stalled_s for p in playbacks), default=0.0), 3),
        gaps=sum(p.gaps for p in playbacks),
        live_edge_s=summary(edges_seen.values),
        headroom_s=summary([p.min_headroom_s for p in playbacks if p.min_headroom_s is not None],
                           (1, 5, 50)),
        requests=tally.requests, bytes=tally.bytes,
        errors=dict(tally.errors), events=dict(tally.events),
        attack={"patterns": list(config.attacks), "rate": config.attack_rate,
                "addresses": config.attack_addresses, "sent": attackers.sent,
                "late": attackers.late,
                "by_outcome": dict(tally.attack), "by_pattern": dict(tally.attack_by_pattern),
                "slow": attackers.slow_summary()},
        process={"cpu_s": round(cpu, 3), "cpu_percent": round(100 * cpu / max(elapsed, 1e-9), 1),
                 "cpu_user_s": round(user, 3), "cpu_system_s": round(system, 3),
                 "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                                     1),
                 "loop_lag_p99_s": percentile(tally.loop_lags, 99) or 0.0,
                 "loop_lag_max_s": max(tally.loop_lags, default=0.0)},
        timeline=timeline, crashes=crashes, config=config.to_dict())

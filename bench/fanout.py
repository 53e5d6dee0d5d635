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
- (e) the same edge, N plain-HLS listeners (same request pattern as (b), 2.24 s segments).

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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.edge_helpers import start_edge  # noqa: E402
from tests.helpers import Server, free_port, start_server, stop_process, stop_server  # noqa: E402
from townhall.loadtest import LoadConfig, run_load  # noqa: E402
from townhall.loadtest.addresses import AddressPool  # noqa: E402
from townhall.loadtest.http import HttpClient, HttpError  # noqa: E402
from townhall.loadtest.metrics import Second, Tally, percentile, summary  # noqa: E402
from townhall.loadtest.playback import Playback  # noqa: E402
from townhall.loadtest.player import Player  # noqa: E402
from townhall.loadtest.safety import Target, check_target  # noqa: E402
from townhall.loadtest.wire import Response  # noqa: E402

OUT_DIR = ROOT / "bench" / "out"
STEPS = (100, 200, 400, 800, 1600)
QUICK_STEPS = (200, 800)
BITRATE = 64_000
BYTES_PER_S = BITRATE // 8  # MP3 CBR: exactly this many bytes per second of audio
PREBUFFER_S = 2.0  # a progressive player starts with this much audio in hand
JOINS_PER_S = 400.0  # listeners of a step arrive over N / this seconds (at least 1 s)
SETTLE_S = 3.0  # after the last join, before the CPU window opens
MEASURE_S, QUICK_MEASURE_S = 12.0, 8.0  # the CPU window of each step
IDLE_S, QUICK_IDLE_S = 5.0, 3.0  # stream on, no listener: the server's idle CPU
STEP_PAUSE_S = 2.0  # between steps: connections closed, seats given back
LAGGING_GENERATOR_S = 0.1  # generator loop lag p99 above this: its stalls may be its own
TICK = os.sysconf("SC_CLK_TCK")
NETWORKS = {"a": 30, "b": 40, "c": 50, "d": 60, "e": 70}  # 127.<n>.x.y per deployment
NAMES = {"a": "Icecast2, progressive MP3", "b": "nginx, static plain HLS",
         "c": "townhall origin, LL-HLS", "d": "townhall + nginx edge, LL-HLS",
         "e": "townhall + nginx edge, plain HLS"}
NOISE = ["-f", "lavfi", "-i", "anoisesrc=color=pink:sample_rate=48000:amplitude=0.3"]


# --- server CPU from /proc ---


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used: utime + stime) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def process_tree(root: int) -> list[int]:
    """`root` and its descendants (nginx workers, anything an origin spawned)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            children.setdefault(st[0], []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


class CpuMeter:
    """Cumulative CPU seconds of each server role (a role is a few process trees)."""

    def __init__(self, roles: dict[str, list[int]]) -> None:
        self.pids = {role: [p for root in roots for p in process_tree(root)]
                     for role, roots in roles.items()}

    def read(self) -> dict[str, float]:
        return {role: sum(st[1] for p in pids if (st := _stat(p)) is not None)
                for role, pids in self.pids.items()}


# --- deployments ---


@dataclass
class Deployment:
    key: str
    target: Target
    roles: dict[str, list[int]]
    space: str = ""  # townhall: the space id
    path: str = ""  # icecast: the mount


def _spawn(args: list[str], log: Path | None = None) -> subprocess.Popen[bytes]:
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed by the OS
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    stop_process(proc)
    if proc.stdout is not None:
        proc.stdout.close()


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout:g} s")


ICECAST_XML = """<icecast>
  <location>loopback</location><admin>bench@localhost</admin><hostname>127.0.0.1</hostname>
  <limits><clients>{clients}</clients><sources>2</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout><burst-on-connect>1</burst-on-connect>
    <burst-size>{burst}</burst-size></limits>
  <authentication><source-password>{password}</source-password>
    <admin-user>admin</admin-user><admin-password>{password}</admin-password></authentication>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>{logdir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog>
    <loglevel>2</loglevel></logging>
  <security><chroot>0</chroot>{owner}</security>
</icecast>
"""


def _icecast_up(url: str) -> bool:
    with httpx.stream("GET", url, timeout=2) as res:
        return res.status_code == 200


@contextlib.contextmanager
def icecast(tmp: Path, seconds: float) -> Iterator[Deployment]:
    """Icecast2 on loopback with a 64 kb/s MP3 mount fed by ffmpeg -re."""
    logdir = tmp / "icecast"
    logdir.mkdir(parents=True)
    for d in (tmp.parent, tmp):  # icecast drops root for nobody, then writes its logs
        d.chmod(0o711)
    logdir.chmod(0o777)
    port, password = free_port(), os.urandom(8).hex()
    # as root, icecast2 refuses to run unless told whom to become
    owner = ("<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
             if os.geteuid() == 0 else "")
    conf = tmp / "icecast.xml"
    conf.write_text(ICECAST_XML.format(clients=20_000, burst=int(BYTES_PER_S * PREBUFFER_S
                                                                 + 4000),
                                       password=password, port=port, logdir=logdir,
                                       owner=owner))
    server = _spawn(["icecast2", "-c", str(conf)], tmp / "icecast.out")
    source: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(0.5)
        if server.poll() is not None:
            raise RuntimeError(f"icecast2 exited: {(tmp / 'icecast.out').read_text()}")
        source = _spawn(["ffmpeg", "-nostdin", "-loglevel", "error", "-re", *NOISE, "-t",
                         str(seconds), "-ac", "1", "-ar", "48000", "-c:a", "libmp3lame", "-b:a",
                         "64k", "-content_type", "audio/mpeg", "-f", "mp3",
                         f"icecast://source:{password}@127.0.0.1:{port}/live.mp3"])
        url = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _icecast_up(url + "/live.mp3"), "the icecast mount")
        yield Deployment("a", check_target(url), {"icecast2": [server.pid]}, path="/live.mp3")
    finally:
        if source is not None:
            _stop(source)
        _stop(server)


STATIC_NGINX = """worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 16384; multi_accept on; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 30s;
    keepalive_requests 100000;
    open_file_cache max=1000 inactive=10s;
    open_file_cache_valid 1s;
    client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp; uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
    types {{ application/vnd.apple.mpegurl m3u8; audio/mp4 m4s mp4; }}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=65535;
        root {root};
        location ~ \\.m3u8$ {{ add_header Cache-Control "max-age=1"; }}
    }}
}}
"""


@contextlib.contextmanager
def static_hls(tmp: Path, seconds: float) -> Iterator[Deployment]:
    """ffmpeg -re writes a live HLS playlist (fMP4, 2 s segments); a plain nginx serves it."""
    root, prefix = tmp / "hls", tmp / "nginx"
    root.mkdir(parents=True)
    (prefix / "tmp").mkdir(parents=True)
    for d in (tmp.parent, tmp, root):  # nginx workers run as nobody when started as root
        d.chmod(0o755)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(STATIC_NGINX.format(prefix=prefix, port=port, root=root))
    source = _spawn(["ffmpeg", "-nostdin", "-loglevel", "error", "-re", *NOISE, "-t",
                     str(seconds), "-ac", "1", "-c:a", "aac", "-b:a", "64k", "-f", "hls",
                     "-hls_time", "2", "-hls_list_size", "8", "-hls_flags",
                     "delete_segments+program_date_time+independent_segments+temp_file",
                     "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
                     "-hls_segment_filename", str(root / "seg%d.m4s"), "-master_pl_name",
                     "master.m3u8", str(root / "media.m3u8")])
    server = _spawn(["nginx", "-c", str(conf), "-p", str(prefix), "-g", "daemon off;"])
    try:
        url = f"http://127.0.0.1:{port}"
        # a plain player starts three target durations behind: wait for four segments
        _wait_for(lambda: httpx.get(url + "/media.m3u8", timeout=2).text.count("#EXTINF") >= 4,
                  "the static HLS playlist", timeout=30)
        yield Deployment("b", check_target(url), {"nginx": [server.pid]})
    finally:
        _stop(source)
        _stop(server)


def _on_air(origin: Server, space: str) -> bool:
    return bool(origin.details(space)["on_air"])


@contextlib.contextmanager
def townhall(tmp: Path, seconds: float) -> Iterator[tuple[Server, str]]:
    """A townhall origin (attack mode off: this measures fan-out, not admission) on air."""
    origin = start_server(tmp / "data", "--attack-mode", "off")
    source: subprocess.Popen[bytes] | None = None
    try:
        doc = origin.create_space(title="fan-out bench", host="bench")
        source = _spawn(["ffmpeg", "-nostdin", "-loglevel", "error", "-re", *NOISE, "-t",
                         str(seconds), "-ac", "1", "-c:a", "aac", "-b:a", "96k", "-f", "adts",
                         doc["ingest_url"]])
        _wait_for(lambda: _on_air(origin, doc["id"]), "the townhall space")
        time.sleep(3)  # a few segments in the window
        yield origin, doc["id"]
    finally:
        if source is not None:
            _stop(source)
        stop_server(origin)


# --- listeners of (a) and (b): the generator's own followers, loadtest parts reused ---


class Follower(Protocol):
    @property
    def playback(self) -> Playback | None: ...

    @property
    def received(self) -> int:
        """Response body bytes so far."""

    async def run(self, delay_s: float) -> None: ...

    async def close(self) -> None: ...


class _Stream(asyncio.Protocol):
    def __init__(self, owner: ProgressiveListener) -> None:
        self.owner = owner

    def data_received(self, data: bytes) -> None:
        self.owner.feed(data, time.time())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.owner.lost.done():
            self.owner.lost.set_result(None)


class ProgressiveListener:
    """GET the mount and play it: prebuffer, then one byte per 1/8000 s of audio."""

    def __init__(self, target: Target, path: str, source: str, tally: Tally) -> None:
        self.target, self.path, self.source, self.tally = target, path, source, tally
        self.playback: Playback | None = None
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.head: bytes | None = b""  # the response head until it is complete, then None
        self.got = 0  # body bytes
        self.joined_at = 0.0

    @property
    def received(self) -> int:
        return self.got

    def feed(self, data: bytes, now: float) -> None:
        if self.head is not None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            status = self.head.split(b"\r\n", 1)[0]
            self.tally.request(0)
            data, self.head = self.head[end + 4:], None
            if b" 200 " not in status:
                self.tally.error(f"stream:{status[:40].decode(errors='replace')}")
                if self.transport is not None:
                    self.transport.close()
                return
        before, self.got = self.got, self.got + len(data)
        if self.playback is None:
            if self.got >= PREBUFFER_S * BYTES_PER_S:
                self.playback = Playback(now, 0.0)
                self.playback.arrive(0.0, self.got / BYTES_PER_S, now)
                self.tally.first_audio(now - self.joined_at)
        elif data:
            stall = self.playback.arrive(before / BYTES_PER_S, len(data) / BYTES_PER_S, now)
            if stall is not None:
                self.tally.stall(stall.seconds)

    async def run(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self.joined_at = time.time()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(10):
                self.transport, _ = await loop.create_connection(
                    lambda: _Stream(self), self.target.host, self.target.port,
                    local_addr=(self.source, 0))
        except (OSError, TimeoutError):
            self.tally.error("stream:connect")
            return
        self.transport.write(f"GET {self.path} HTTP/1.0\r\nHost: {self.target.host_header}"
                             "\r\nUser-Agent: townhall-bench\r\n\r\n".encode())
        await self.lost
        self.tally.error("stream:closed")

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            await asyncio.sleep(0)


class StaticHlsListener:
    """The loadtest's plain-HLS `Player` reading a static directory: no join, no ticket."""

    def __init__(self, target: Target, source: str, tally: Tally) -> None:
        self.tally = tally
        self.client = HttpClient(target, source=source)
        self.player = Player(self, tally, low_latency=False, preload=False)

    @property
    def playback(self) -> Playback | None:
        return self.player.playback

    @property
    def received(self) -> int:
        return self.client.bytes_received

    async def media(self, what: str, uri: str, query: str = "") -> Response | None:
        try:
            resp = await self.client.request("GET", "/" + uri + (f"?{query}" if query else ""))
        except HttpError as exc:
            self.tally.error(f"{what}:{exc.kind}")
            return None
        self.tally.request(len(resp.body))
        if resp.status != 200:
            self.tally.error(f"{what}:{resp.status}")
            return None
        return resp

    def maybe_renew(self) -> None:
        pass

    async def run(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self.player.joined_at = time.time()
        await self.player.play()

    async def close(self) -> None:
        await self.client.close()


@dataclass
class Run:
    """What a step's listeners did, whichever generator ran them."""

    timeline: list[Second]
    played: int
    failed: int
    stalls: int
    listeners_with_stalls: int
    errors: dict[str, int]
    ttfa_s: dict[str, float | None]
    live_edge_s: dict[str, float | None]
    stalled_s: float
    generator_cpu_percent: float
    generator_lag_p99_s: float


async def run_followers(followers: list[Follower], duration_s: float, join_window_s: float,
                        tally: Tally, on_second: Callable[[Second], None]) -> Run:
    """Start follower i at i/N of the join window; sample each second; stop at the deadline."""
    loop = asyncio.get_running_loop()
    n = max(1, len(followers))
    cpu0, t0 = _own_cpu(), loop.time()
    tasks = [asyncio.create_task(f.run(join_window_s * i / n)) for i, f in enumerate(followers)]
    lags: list[float] = []
    timeline: list[Second] = []
    edges: list[float] = []
    received = 0
    try:
        for second in range(1, int(duration_s) + 1):
            before = loop.time()
            await asyncio.sleep(max(0.0, t0 + second - before))
            lags.append(max(0.0, loop.time() - (t0 + second)))
            now = time.time()
            playing = [f for f, t in zip(followers, tasks, strict=True)
                       if f.playback is not None and not t.done()]
            states = Counter({"playing": len(playing),
                              "other": sum(1 for t in tasks if not t.done()) - len(playing)})
            stalled = sum(1 for f in playing if f.playback and f.playback.stalled_at(now))
            edge = [e for f in playing if f.playback and
                    (e := f.playback.live_edge_distance(now)) is not None]
            edges.extend(edge)
            got = sum(f.received for f in followers)  # progressive bodies never "answer"
            timeline.append(replace(tally.close_second(second, states, stalled, edge),
                                    bytes=got - received))
            received = got
            on_second(timeline[-1])
    finally:
        now = time.time()
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for res in results:
            if isinstance(res, Exception):
                tally.error(f"crash:{type(res).__name__}:{res}")
        for f in followers:
            if f.playback is not None and (stall := f.playback.finish(now)) is not None:
                tally.stall(stall.seconds)
            await f.close()
    elapsed = loop.time() - t0
    playbacks = [f.playback for f in followers if f.playback is not None]
    return Run(timeline, len(playbacks), len(followers) - len(playbacks), tally.stalls,
               sum(1 for p in playbacks if p.stalls), dict(tally.errors), summary(tally.ttfa),
               summary(edges), round(tally.stalled_s, 3),
               round(100 * (_own_cpu() - cpu0) / elapsed, 1), percentile(lags, 99) or 0.0)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
    marginal_cpu_s_per_listener_hour: float  # above the server's idle rate
    requests_per_listener_s: float
    kbit_per_listener: float  # delivered bytes, per playing listener
    generator_cpu_percent: float
    generator_lag_p99_s: float
    generator_bound: bool
    error_kinds: dict[str, int] = field(default_factory=dict)


async def run_step(dep: Deployment, n: int, measure_s: float, idle: dict[str, float]) -> Step:
    join_s = max(1.0, n / JOINS_PER_S)
    duration = join_s + SETTLE_S + measure_s
    meter = CpuMeter(dep.roles)
    cpu: dict[int, dict[str, float]] = {0: meter.read()}

    def on_second(s: Second) -> None:
        cpu[s.t] = meter.read()

    network = NETWORKS[dep.key]
    if dep.key in ("a", "b"):
        tally = Tally()
        pool = AddressPool(network, n, 100)
        followers: list[Follower] = [
            ProgressiveListener(dep.target, dep.path, pool.address(i), tally) if dep.key == "a"
            else StaticHlsListener(dep.target, pool.address(i), tally) for i in range(n)]
        run = await run_followers(followers, duration, join_s, tally, on_second)
    else:
        report = await run_load(LoadConfig(
            target=dep.target.url, space=dep.space, listeners=n, duration_s=duration,
            join_window_s=join_s, mode="plain" if dep.key == "e" else "ll",
            listener_network=network, seed=n), on_second=on_second)
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
        marginal_cpu_s_per_listener_hour=round(max(0.0, total - idle_total) * per_hour, 3),
        requests_per_listener_s=round(sum(s.requests for s in window) / max(listener_s, 1), 3),
        kbit_per_listener=round(8 * sum(s.bytes for s in window) / max(listener_s, 1) / 1000, 1),
        generator_cpu_percent=run.generator_cpu_percent,
        generator_lag_p99_s=round(run.generator_lag_p99_s, 4), generator_bound=lagging,
        error_kinds=dict(sorted(run.errors.items(), key=lambda kv: -kv[1])[:6]))


async def idle_rate(dep: Deployment, seconds: float) -> dict[str, float]:
    """CPU seconds per second of each role with the stream on and nobody listening."""
    meter = CpuMeter(dep.roles)
    before = meter.read()
    await asyncio.sleep(seconds)
    after = meter.read()
    return {r: (after[r] - before[r]) / seconds for r in dep.roles}


def run_deployment(dep: Deployment, steps: tuple[int, ...], args: argparse.Namespace,
                   results: dict[str, Any]) -> None:
    idle_s = QUICK_IDLE_S if args.quick else IDLE_S
    measure_s = QUICK_MEASURE_S if args.quick else MEASURE_S
    idle = asyncio.run(idle_rate(dep, idle_s))
    results["idle_cpu_percent"][dep.key] = {r: round(100 * v, 1) for r, v in idle.items()}
    print(f"({dep.key}) {NAMES[dep.key]}: idle server CPU "
          + ", ".join(f"{r} {100 * v:.1f}%" for r, v in idle.items()), flush=True)
    for n in steps:
        step = asyncio.run(run_step(dep, n, measure_s, idle))
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
            f"cpu/listener-h {s.cpu_s_per_listener_hour:8.2f}s (marginal "
            f"{s.marginal_cpu_s_per_listener_hour:7.2f}s) [{cpu}] req/listener-s "
            f"{s.requests_per_listener_s:.2f} {s.kbit_per_listener:.0f} kb/s; generator "
            f"{s.generator_cpu_percent:.0f}% lag p99 {1000 * s.generator_lag_p99_s:.0f} ms"
            + flag)


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

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(14, 5.5))
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


def machine() -> dict[str, Any]:
    model = next((ln.split(":", 1)[1].strip() for ln in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor())
    versions = {}
    for name, cmd in (("nginx", ["nginx", "-v"]), ("icecast2", ["icecast2", "-v"]),
                      ("ffmpeg", ["ffmpeg", "-version"])):
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        versions[name] = (out.stdout + out.stderr).splitlines()[0].strip()
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "python": platform.python_version(), **versions}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help=f"steps {QUICK_STEPS}, shorter windows")
    ap.add_argument("--steps", default=None, help="comma list of listener counts")
    ap.add_argument("--only", default="abcde", help="deployments to run, e.g. 'bd'")
    ap.add_argument("--all-steps", action="store_true", help="keep stepping after a stall")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()
    steps = tuple(int(x) for x in args.steps.split(",")) if args.steps else \
        QUICK_STEPS if args.quick else STEPS
    if not steps or max(steps) > 5000 or min(steps) < 1 or not set(args.only) <= set(NAMES):
        ap.error("steps must be 1..5000 listeners; --only takes letters of abcde")
    measure = QUICK_MEASURE_S if args.quick else MEASURE_S
    budget = len(steps) * (max(steps) / JOINS_PER_S + SETTLE_S + measure + 15) + 120
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "steps": [], "idle_cpu_percent": {},
                               "settings": {"steps": steps, "measure_s": measure,
                                            "settle_s": SETTLE_S, "joins_per_s": JOINS_PER_S,
                                            "prebuffer_s": PREBUFFER_S, "bitrate": BITRATE}}
    m = results["machine"]
    print(f"fan-out on {m['cpus']} CPUs ({m['cpu_model']}), steps {steps}; servers, sources "
          "and the load generator share them", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="townhall-fanout-") as tmp_name:
        tmp = Path(tmp_name)
        if "a" in args.only:
            with icecast(tmp / "a", budget) as dep:
                run_deployment(dep, steps, args, results)
        if "b" in args.only:
            with static_hls(tmp / "b", budget) as dep:
                run_deployment(dep, steps, args, results)
        if set("cde") & set(args.only):
            with townhall(tmp / "c", budget * 3) as (origin, space):
                if "c" in args.only:
                    run_deployment(Deployment("c", check_target(origin.base_url),
                                              {"origin": [origin.process.pid]}, space),
                                   steps, args, results)
                edge = start_edge(origin, tmp / "edge")
                try:
                    for key in "de":
                        if key in args.only:
                            run_deployment(Deployment(key, check_target(edge.url), {
                                "origin": [origin.process.pid], "nginx": [edge.process.pid]},
                                space), steps, args, results)
                finally:
                    edge.stop()
    steps_done = [Step(**s) for s in results["steps"]]
    lines = summarize(steps_done, steps)
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

"""The fan-out benchmark's own listeners for (a) Icecast and (b) static HLS: a progressive
MP3 player and a plain-HLS player (the load tester's `Player`), run side by side with a tally.

Used by bench/fanout.py. Bounded: every follower stops at the run's deadline.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from harness.deployments import BYTES_PER_S, PREBUFFER_S
from townhall.loadtest.http import HttpClient, HttpError
from townhall.loadtest.metrics import Second, Tally, percentile, summary
from townhall.loadtest.playback import Playback
from townhall.loadtest.player import Player
from townhall.loadtest.safety import Target
from townhall.loadtest.wire import Response

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

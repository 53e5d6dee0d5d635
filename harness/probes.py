"""The fan-out benchmark's glass-to-glass probes: a few listeners per design that play like the
rest (the loadtest's LL or plain `Player`, the progressive MP3 listener) and also keep what
they fetched, so that harness/marks.py can decode it and say when each pushed mark was heard.

They run in the benchmark's own process beside the load (in-process or `--workers`), join
after the load's joins, and stop at the step's end. Bounded like every listener.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import replace

from harness.followers import ProgressiveListener, StaticHlsListener
from harness.marks import Capture, Heard, audible_at, match, mp3_onsets
from townhall.loadtest.addresses import AddressPool
from townhall.loadtest.config import LoadConfig
from townhall.loadtest.listener import Listener
from townhall.loadtest.metrics import Tally
from townhall.loadtest.playback import Playback
from townhall.loadtest.player import MediaSource, Player
from townhall.loadtest.playlist import Span
from townhall.loadtest.safety import Target
from townhall.loadtest.wire import Response

PROBE_NETWORK = 90  # probes come from 127.90.x.y


class ProbePlayer(Player):
    """A `Player` that keeps each fragment it played, by media offset."""

    def __init__(self, source: MediaSource, tally: Tally, capture: Capture, *,
                 low_latency: bool, preload: bool) -> None:
        super().__init__(source, tally, low_latency=low_latency, preload=preload)
        self.capture = capture

    async def _fetch(self, what: str, uri: str) -> float | None:
        resp = await self.source.media(what, uri)
        if resp is None:
            return None
        arrival = time.time()
        self.capture.pending[arrival] = resp.body
        return arrival

    def _arrive(self, span: Span | None, arrival: float,
                window: list[tuple[Span, float]]) -> None:
        body = self.capture.pending.pop(arrival, None)
        if span is not None and body is not None:
            self.capture.fragments.append((span.offset, body))
        super()._arrive(span, arrival, window)


class HlsCapture:
    """What an HLS probe keeps (its init section here, its fragments through ProbePlayer) and
    when it heard each mark. Mixed in before the listener class it probes."""

    capture: Capture
    player: Player

    async def media(self, what: str, uri: str, query: str = "") -> Response | None:
        resp: Response | None = await super().media(what, uri, query)  # type: ignore[misc]
        if resp is not None and what == "init":
            self.capture.init = resp.body
        return resp

    def heard(self, pushes: list[float]) -> list[Heard]:
        return self.capture.hls_heard(self.player.playback, pushes)


class TownhallProbe(HlsCapture, Listener):
    def __init__(self, index: int, config: LoadConfig, target: Target, source: str,
                 tally: Tally) -> None:
        super().__init__(index, config, target, source, tally, random.Random(index))
        self.capture = Capture()
        self.player = ProbePlayer(self, tally, self.capture, low_latency=config.mode == "ll",
                                  preload=config.ll_preload)


class StaticHlsProbe(HlsCapture, StaticHlsListener):
    def __init__(self, target: Target, source: str, tally: Tally) -> None:
        super().__init__(target, source, tally)
        self.capture = Capture()
        self.player = ProbePlayer(self, tally, self.capture, low_latency=False, preload=False)


class IcecastProbe(ProgressiveListener):
    def __init__(self, target: Target, path: str, source: str, tally: Tally) -> None:
        super().__init__(target, path, source, tally)
        self.chunks: list[bytes] = []

    def feed(self, data: bytes, now: float) -> None:
        before = self.got
        super().feed(data, now)
        if self.got > before:
            self.chunks.append(data[len(data) - (self.got - before):])

    def heard(self, pushes: list[float]) -> list[Heard]:
        playback: Playback | None = self.playback
        if playback is None:
            return []
        heard = [audible_at(playback, o) for o in mp3_onsets(b"".join(self.chunks))]
        return [Heard(latency, None) for _, latency in match(heard, pushes)]


Probe = TownhallProbe | StaticHlsProbe | IcecastProbe


def make_probes(key: str, target: Target, n: int, *, space: str = "", path: str = "",
                config: LoadConfig | None = None) -> list[Probe]:
    """`n` probes of design `key` (a: Icecast, b: static HLS, c/d/e: townhall)."""
    pool = AddressPool(PROBE_NETWORK, max(1, n), 100)
    tally = Tally()
    if key == "a":
        return [IcecastProbe(target, path, pool.address(i), tally) for i in range(n)]
    if key == "b":
        return [StaticHlsProbe(target, pool.address(i), tally) for i in range(n)]
    assert config is not None
    cfg = replace(config, listeners=n, listener_network=PROBE_NETWORK, space=space)
    return [TownhallProbe(i, cfg, target, pool.address(i), tally) for i in range(n)]


async def run_probes(probes: list[Probe], start_s: float, stop_s: float) -> None:
    """Probe i joins at start_s + i * 0.3 s; all stop at stop_s (seconds from now)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + stop_s
    tasks = [asyncio.create_task(p.run(start_s + 0.3 * i)) for i, p in enumerate(probes)]
    await asyncio.sleep(max(0.0, end - loop.time()))
    now = time.time()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for p in probes:
        if isinstance(p, TownhallProbe):
            await p.stop(now)
        else:
            if p.playback is not None:
                p.playback.finish(now)
            await p.close()

"""The deployment model against a real edge: LL-HLS listeners through nginx in front of an
origin, at small scale, with the request rates the model predicts for the same audience.

What is measured, over a steady window (everyone joined and playing, nobody leaving yet):
- edge requests/s: the edge's own `stub_status` request counter, cross-checked with the
  load generator's count of the requests it sent;
- origin media requests/s: the origin's `media_ok` counter (ticketed media requests that
  reached it, i.e. the edge's cache fills: playlists, blocking reloads and parts).

The model's `Player` is set to what the load generator's LL player does: per part, one
blocking reload and one preload-hinted part fetch; it does not poll the details document
(`details_poll_s=inf`) and renews no ticket within the window.
"""

from __future__ import annotations

import asyncio
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness.edge import Edge, origin_metrics, start_edge
from harness.server import Server, free_port, push_tone, start_server, stop_server
from townhall.loadtest import LoadConfig, LoadReport, run_load
from townhall.simulate.model import Deployment, Player, steady_state

pytestmark = pytest.mark.slow

LISTENERS = 80
RUN_S = 22.0
WINDOW = (6.0, 20.0)  # seconds into the run: after the joins, before the leaves
TOLERANCE = 0.10
PART_S = 0.32  # the origin's defaults: 15 AAC frames of 1024 samples at 48 kHz
SEGMENT_S = 2.24
SEAT_TTL_S = 120.0
_ACCEPTS = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s*$", re.M)


@dataclass(frozen=True)
class Counts:
    at: float  # loop time of the reading
    edge_requests: int  # nginx stub_status "requests"
    origin_media: int  # origin counter media_ok


async def read_counts(client: httpx.AsyncClient, edge: Edge, origin: Server) -> Counts:
    status = await client.get(f"{edge.url}/edge-status")
    status.raise_for_status()
    m = _ACCEPTS.search(status.text)  # "accepts handled requests"
    assert m is not None, status.text
    media_ok = (await asyncio.to_thread(origin_metrics, origin))["counters"]["media_ok"]
    return Counts(asyncio.get_running_loop().time(), int(m[3]), int(media_ok))


async def measure(config: LoadConfig, edge: Edge,
                  origin: Server) -> tuple[LoadReport, Counts, Counts]:
    async with httpx.AsyncClient(timeout=5) as client:
        t0 = asyncio.get_running_loop().time()

        async def at(offset: float) -> Counts:
            await asyncio.sleep(max(0.0, t0 + offset - asyncio.get_running_loop().time()))
            return await read_counts(client, edge, origin)

        report, start, end = await asyncio.gather(run_load(config), at(WINDOW[0]),
                                                  at(WINDOW[1]))
    return report, start, end


def test_model_predicts_edge_and_origin_request_rates_of_a_real_edge_within_ten_percent(
        tmp_path: Path) -> None:
    edge_port = free_port()
    origin = start_server(tmp_path / "data", "--attack-mode", "off", "--public-url",
                          f"http://127.0.0.1:{edge_port}", "--set", f"seat_ttl_s={SEAT_TTL_S}")
    feed: subprocess.Popen[bytes] | None = None
    edge: Edge | None = None
    try:
        edge = start_edge(origin, tmp_path / "edge", edge_port)
        doc = origin.create_space(title="Model check")
        feed = push_tone(doc["ingest_url"], RUN_S + 20)
        origin.wait_on_air(doc["id"])
        config = LoadConfig(target=edge.url, space=doc["id"], listeners=LISTENERS,
                            duration_s=RUN_S, join_window_s=2.0, seed=5)
        report, start, end = asyncio.run(measure(config, edge, origin))
    finally:
        if feed is not None:
            feed.kill()
            feed.wait(10)
        if edge is not None:
            edge.stop()
        stop_server(origin)

    assert report.crashes == [] and report.played == LISTENERS, report.summary_lines()
    seconds = end.at - start.at
    edge_rps = (end.edge_requests - start.edge_requests - 1) / seconds  # less our own read
    origin_rps = (end.origin_media - start.origin_media) / seconds
    sent = [s.requests for s in report.timeline if WINDOW[0] < s.t <= WINDOW[1]]
    generator_rps = sum(sent) / len(sent)

    player = Player(mode="ll", part_s=PART_S, segment_s=SEGMENT_S, details_poll_s=math.inf,
                    ticket_ttl_s=SEAT_TTL_S, reloads_per_part=1.0)  # the load tester's
    model = steady_state(Deployment(LISTENERS, player=player, edges=1))
    # these listeners poll no details (details_poll_s=inf: the model fills none either)
    predicted_origin = model["origin_fill_requests_per_s"]
    predicted_edge = model["edge_requests_per_s"]

    found = (f"edge {edge_rps:.1f}/s (generator sent {generator_rps:.1f}/s) vs model "
             f"{predicted_edge}/s; origin media {origin_rps:.2f}/s vs model "
             f"{predicted_origin:.2f}/s")
    print(found)
    assert edge_rps == pytest.approx(predicted_edge, rel=TOLERANCE), found
    assert generator_rps == pytest.approx(edge_rps, rel=TOLERANCE), found
    assert origin_rps == pytest.approx(predicted_origin, rel=TOLERANCE), found

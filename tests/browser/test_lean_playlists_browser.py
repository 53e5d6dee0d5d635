"""hls.js in headless Chromium, through a real nginx edge, on lean playlists: it joins at the
live edge (Date.now() - playingDate), asks for delta updates, receives gzip-compressed
playlists, and its wire bytes stay close to the audio bitrate."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from harness.edge import Edge, origin_behind_edge
from harness.server import Server, push_tone, stop_process
from tests.browser.test_space_page import current_time, fatal_errors, playback, wait_playing
from tests.wire_budget import WireMeter
from townhall.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timing]
AUDIO_BPS = 64_000  # the default program bitrate
MEASURE_S = 24  # steady play measured, after the join
# the stream's wire bytes (everything under /live/, headers included) over the audio bitrate,
# issue 12's bar: 1.24x measured (1.42x before; docs/delivery.md "Wire bytes of an LL listener")
MAX_RATIO = 1.25
LIVE_DISTANCE_JS = """() => {
  const h = window.townhall.hls;
  return h && h.playingDate ? (Date.now() - h.playingDate.getTime()) / 1000 : null;
}"""


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Server, Edge]]:
    with origin_behind_edge(tmp_path, public=True) as pair:
        yield pair


def test_hls_js_through_the_edge_plays_lean_playlists_at_the_live_edge(
        deployment: tuple[Server, Edge], context: BrowserContext, page: Page,
        tmp_path: Path) -> None:
    origin, edge = deployment
    doc = origin.create_space(title="Lean playlists")
    tone = push_tone(doc["ingest_url"], 90)
    try:
        origin.wait_on_air(doc["id"], timeout=30)
        time.sleep(12)  # a window longer than the skip boundary: delta updates skip something
        meter = WireMeter(context, page)
        page.goto(doc["page_url"])
        assert doc["page_url"].startswith(edge.url)
        expect(page.locator("#state")).to_have_text("live")
        wait_playing(page, 0.3)
        page.wait_for_timeout(8_000)  # hls.js catches up to its target latency
        meter.counting = True
        distances: list[float] = []
        t0, c0 = time.monotonic(), current_time(page)
        for _ in range(MEASURE_S * 2):  # steady play, after the join
            page.wait_for_timeout(500)
            d = page.evaluate(LIVE_DISTANCE_JS)
            if d is not None:
                distances.append(float(d))
        meter.counting = False
        wall = time.monotonic() - t0
        advanced = current_time(page) - c0
        assert advanced >= wall - 1.0, f"stalled: {advanced:.2f} s in {wall:.2f} s"
        assert fatal_errors(page) == [], playback(page)
        p50 = statistics.median(distances)
        budget = meter.budget
        # per second of media received, not of wall time: a window of wall time holds one
        # part more or less depending on where it falls (1-2 % of the ratio), so the ratio
        # is the same measurement whatever the machine's pace
        budget.seconds = budget.media_ticks / Settings().media.sample_rate
        print(f"media received {budget.seconds:.2f} s in {wall:.2f} s of wall time")
        assert budget.seconds >= wall - 2.0, (budget.seconds, wall)
        for what, kbps, share in budget.rows(AUDIO_BPS):
            print(f"{what:60s} {kbps:6.2f} kb/s {share:5.3f}x")
        ratio = budget.stream_ratio(AUDIO_BPS)
        print(f"stream {ratio:.3f}x; live distance p50 {p50:.2f} s max {max(distances):.2f} s;"
              f" per part (headers, body) {budget.per_response('part')}, per playlist "
              f"{budget.per_response('playlist')}; responses {dict(budget.responses)}")
        assert p50 <= 1.2, distances
        playlists = budget.responses["playlist"]
        assert budget.delta_playlists > playlists / 2
        # the page answers every second blocking reload from the preload hint
        assert playlists <= budget.responses["part"] * 0.6, dict(budget.responses)
        assert budget.gzip_playlists == playlists
        # the bar of issue 12: every byte on the wire, headers included, over HTTP/1.1
        assert ratio <= MAX_RATIO, budget.rows(AUDIO_BPS)
    finally:
        stop_process(tone)

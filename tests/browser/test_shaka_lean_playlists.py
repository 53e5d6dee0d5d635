"""Shaka Player (npm `shaka-player`, not hls.js) plays the lean playlists through a real nginx
edge: delta updates, gzip and the standard tier's playlist are plain HLS to it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from harness.edge import Edge
from harness.server import Server, push_tone, stop_process
from tests.browser.test_lean_playlists_browser import deployment  # noqa: F401 - fixture
from tests.browser.test_space_page import current_time

pytestmark = [pytest.mark.slow, pytest.mark.timing]
SHAKA = Path(__file__).resolve().parents[2] / "node_modules" / "shaka-player" / "dist" / \
    "shaka-player.compiled.js"
PAGE = """<!doctype html><html><body><audio id="audio"></audio>
<script src="shaka.js"></script>
<script>
window.errors = [];
async function start(url) {
  shaka.polyfill.installAll();
  const audio = document.getElementById('audio');
  const player = new shaka.Player();
  await player.attach(audio);
  player.configure({ streaming: { lowLatencyMode: true } });
  player.addEventListener('error', (e) => window.errors.push(String(e.detail && e.detail.code)));
  try { await player.load(url); await audio.play(); }
  catch (e) { window.errors.push(String(e.code || e)); }
  window.player = player;
}
</script></body></html>"""


def serve_test_page(page: Page, edge: Edge) -> None:
    """The Shaka page and library, answered as if from the edge (same origin as the media:
    no CORS needed)."""
    def fulfil(route: Route) -> None:
        if route.request.url.endswith("/shaka.js"):
            route.fulfill(body=SHAKA.read_bytes(), content_type="text/javascript")
        else:
            route.fulfill(body=PAGE, content_type="text/html")
    page.route(f"{edge.url}/shaka-test/**", fulfil)


@pytest.mark.parametrize("playlist", ["master.m3u8", "standard.m3u8"])
def test_shaka_plays_the_lean_playlists_through_the_edge(
        deployment: tuple[Server, Edge], page: Page, playlist: str) -> None:  # noqa: F811
    origin, edge = deployment
    assert SHAKA.exists(), "npm ci installs shaka-player (package.json)"
    doc = origin.create_space(title="Shaka")
    tone = push_tone(doc["ingest_url"], 90)
    try:
        origin.wait_on_air(doc["id"], timeout=30)
        url = origin.join(doc["id"])["playlist_url"].rsplit("/", 1)[0] + "/" + playlist
        assert url.startswith(edge.url)
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/live/" in r.url else None)
        serve_test_page(page, edge)
        page.goto(f"{edge.url}/shaka-test/index.html")
        page.evaluate("(u) => start(u)", url)
        page.wait_for_function("document.getElementById('audio').currentTime > 1",
                               timeout=30_000)
        t0, c0 = time.monotonic(), current_time(page)
        page.wait_for_timeout(8_000)
        advanced, wall = current_time(page) - c0, time.monotonic() - t0
        errors: list[Any] = page.evaluate("window.errors")
        assert errors == []
        assert advanced >= wall - 1.0, f"stalled: {advanced:.2f} s in {wall:.2f} s"
        assert any(playlist.split(".")[0] in u for u in asked)
        print(f"shaka {playlist}: {len(asked)} media requests, "
              f"{sum('_HLS_skip' in u for u in asked)} delta updates")
    finally:
        stop_process(tone)

"""The listening page shows live captions: hls.js picks up the WebVTT rendition, the page
offers a Captions button, and once on, each cue is shown large in a polite live region (one
whole cue at a time), at phone width, in time with the audio. Headless Debian Chromium
(tests/browser/conftest.py).

On both latency tiers. A low-latency player plays about a second behind live, before the
recogniser has settled that audio (2-5 s), and hls.js does not go back for subtitle segments
behind its playhead: with captions on, the page holds the player back three target durations
(where the standard tier plays), and returns to the LL hold-back when they are switched off
(static/player.js, docs/captions.md)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from harness.edge import Edge
from harness.server import Server, start_server, stop_process, stop_server
from harness.speech import SENTENCES, need_espeak, speak_wav, words
from tests.browser.page_checks import goto
from tests.browser.test_shaka_lean_playlists import SHAKA
from tests.captions.test_live_captions import (
    deployment,  # noqa: F401 - fixture
    push_speech,
)

pytestmark = pytest.mark.slow
# what the player was doing, when a test fails
DIAGNOSIS = """(() => { const h = townhall.hls, a = document.querySelector('audio');
  return { target: h && h.targetLatency, latency: h && h.latency, sync: h && h.liveSyncPosition,
    now: a.currentTime, subtitleTrack: h && h.subtitleTrack, set: townhall.targetLatency,
    tracks: Array.from(a.textTracks).map((t) => [t.kind, t.mode,
      t.cues && Array.from(t.cues).map((c) => [c.startTime, c.endTime, c.text])]),
    subs: h && h.subtitleTracks.map((t) => t.details && t.details.fragments.map(
      (f) => [f.sn, f.start])),
    buffered: Array.from({ length: a.buffered.length },
      (_, i) => [a.buffered.start(i), a.buffered.end(i)]),
    errors: townhall.errors.slice(-5) }; })()"""


@pytest.fixture(params=["standard", "low"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    need_espeak()
    s = start_server(tmp_path / "data", "--captions", "--set",
                     f"latency_tier={request.param}")
    try:
        yield s
    finally:
        stop_server(s)


@pytest.mark.timing  # the recogniser (nice 10) must keep pace with speech: runs alone
def test_the_page_shows_captions_of_what_is_said_at_phone_width_on_either_tier(
        server: Server, page: Page, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    doc = server.create_space()
    # long enough that a page slow to start on a busy machine still has speech to caption
    spoken = " ".join(SENTENCES[1:8])
    source: subprocess.Popen[bytes] = push_speech(
        doc["ingest_url"], speak_wav(spoken, tmp_path / "speech.wav"))
    try:
        goto(page, doc["page_url"])
        button = page.locator("#cc")
        expect(button).to_be_visible(timeout=25_000)
        button.click()
        expect(button).to_have_attribute("aria-pressed", "true")
        box = page.locator("#captions")
        expect(box).to_have_attribute("aria-live", "polite")
        seen: set[str] = set()
        for _ in range(60):
            text = box.text_content() or ""
            seen |= set(words(text))
            if len(seen & set(words(spoken))) >= 5:
                break
            page.wait_for_timeout(500)
        assert len(seen & set(words(spoken))) >= 5, (seen, json.dumps(page.evaluate(DIAGNOSIS)))
        width = page.evaluate("document.getElementById('captions').getBoundingClientRect()"
                              ".right")
        assert width <= 390
        # where it plays: three target durations back with captions on, whatever the tier
        duration = page.evaluate("townhall.hls.levels[0].details.targetduration")
        assert page.evaluate("townhall.hls.targetLatency") >= 3 * duration - 0.1
        if page.evaluate("townhall.hls.levels[0].details.partHoldBack"):  # the LL tier
            button.click()
            expect(button).to_have_attribute("aria-pressed", "false")
            page.wait_for_function("townhall.hls.targetLatency < 2")  # LL again
    finally:
        stop_process(source)


SHAKA_PAGE = """<!doctype html><html><body><audio id="audio"></audio>
<script src="shaka.js"></script>
<script>
window.errors = [];
window.texts = [];
async function start(url) {
  shaka.polyfill.installAll();
  const audio = document.getElementById('audio');
  const player = new shaka.Player();
  await player.attach(audio);
  player.addEventListener('error', (e) => window.errors.push(String(e.detail && e.detail.code)));
  try { await player.load(url); await audio.play(); }
  catch (e) { window.errors.push(String(e.code || e)); }
  window.player = player;
}
function showCaptions() {
  const track = player.getTextTracks()[0];
  // Shaka may have taken the AUTOSELECT rendition already, hidden: selecting the track it
  // has is a no-op that leaves it hidden, so it is let go first
  player.selectTextTrack(null);
  player.selectTextTrack(track);
  // every cue Shaka hands to the element's text track, as the page would show it
  setInterval(() => {
    for (const t of document.getElementById('audio').textTracks) {
      for (const c of Array.from(t.activeCues || [])) {
        if (!window.texts.includes(c.text)) window.texts.push(c.text);
      }

    }
  }, 100);
}
</script></body></html>"""


SHAKA_DIAGNOSIS = """(() => { const a = document.getElementById('audio');
  return { now: a.currentTime, errors: window.errors, text: player.getTextTracks(),
    visible: player.isTextTrackVisible && player.isTextTrackVisible(),
    tracks: Array.from(a.textTracks).map((t) => [t.kind, t.mode, t.cues && t.cues.length]),
    range: player.seekRange() }; })()"""


@pytest.mark.timing  # the recogniser (nice 10) must keep pace with speech: runs alone
def test_shaka_lists_the_caption_track_and_shows_its_cues_through_the_edge(
        deployment: tuple[Server, Edge], page: Page, tmp_path: Path) -> None:  # noqa: F811
    """An independent player: Shaka (npm `shaka-player`) in Chromium, on a listener's ticket
    through a real nginx edge, lists the WebVTT rendition as a text track and, once it is
    selected, shows cues of what is said (the standard tier's playlist: Shaka plays it three
    target durations back, where the cues are)."""
    origin, edge = deployment
    assert SHAKA.exists(), "npm ci installs shaka-player (package.json)"
    doc = origin.create_space(title="Shaka captions")
    spoken = " ".join(SENTENCES[4:7])
    source = push_speech(doc["ingest_url"], speak_wav(spoken, tmp_path / "speech.wav"))
    try:
        origin.wait_on_air(doc["id"], timeout=30)
        url = origin.join(doc["id"])["playlist_url"].rsplit("/", 1)[0] + "/standard.m3u8"
        url = url.replace(origin.base_url, edge.url)

        def fulfil(route: Route) -> None:
            if route.request.url.endswith("/shaka.js"):
                route.fulfill(body=SHAKA.read_bytes(), content_type="text/javascript")
            else:
                route.fulfill(body=SHAKA_PAGE, content_type="text/html")
        page.route(f"{edge.url}/shaka-test/**", fulfil)
        page.goto(f"{edge.url}/shaka-test/index.html")
        asked: list[str] = []  # the rendition's requests, for a failure's message
        page.on("request", lambda r: asked.append(r.url.rsplit("/", 2)[-1])
                if "/subs.m3u8" in r.url or "/vtt/" in r.url else None)
        page.evaluate("(u) => start(u)", url)
        page.wait_for_function("window.player && player.getTextTracks().length > 0",
                               timeout=30_000)
        track = page.evaluate("player.getTextTracks()[0]")
        assert track["kind"] in ("subtitle", "caption"), track
        assert track["language"].startswith("en"), track
        page.evaluate("showCaptions()")
        said = set(words(spoken))
        seen: set[str] = set()
        for _ in range(80):
            seen = set(words(" ".join(page.evaluate("window.texts"))))
            if len(seen & said) >= 5:
                break
            page.wait_for_timeout(500)
        assert len(seen & said) >= 5, (seen, json.dumps(page.evaluate(SHAKA_DIAGNOSIS)), asked)
        assert page.evaluate("player.getTextTracks()[0].active") is True
        assert page.evaluate("window.errors") == []
    finally:
        stop_process(source)

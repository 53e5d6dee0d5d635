"""The embeddable player in Chromium, inside an <iframe> on another origin: a news page on
http://localhost:PORT embeds http://127.0.0.1:PORT/embed/ID, plays the live audio, then the
replay after the end; what it loads before play stays within the stated weight budget; a
captioned replay shows its transcript."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Frame, Response

from harness.server import Server, push_tone, start_server, stop_process, stop_server
from harness.speech import SENTENCES, need_espeak, speak_wav
from tests.browser.conftest import chromium
from tests.reach.test_transcript_feed import push_speech

pytestmark = pytest.mark.slow
BUDGET_BYTES = 20_000  # docs/reach.md: the embed before play (page, player module, details)


def _news_site(embed_url: str) -> tuple[ThreadingHTTPServer, str]:
    class NewsPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (f"<!doctype html><html lang=en><title>news</title><h1>News</h1>"
                    f'<iframe id="player" src="{embed_url}" width="480" height="120" '
                    f'allow="autoplay"></iframe>').encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NewsPage)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://localhost:{httpd.server_address[1]}/"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data", "--set", "shed_lag_scale=20")
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture
def news(server: Server) -> Iterator[tuple[str, str, dict[str, Any]]]:
    doc = server.create_space(title="Embedded interview")
    httpd, url = _news_site(f"{server.base_url}/embed/{doc['id']}")
    try:
        yield url, doc["id"], doc
    finally:
        httpd.shutdown()
        httpd.server_close()


def _playing(frame: Frame) -> float:
    t: float = frame.evaluate("document.getElementById('audio').currentTime")
    return t


def _wait_advancing(frame: Frame, seconds: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    start = None
    while time.monotonic() < deadline:
        now = _playing(frame)
        if start is None and now > 0:
            start = now
        if start is not None and now - start >= seconds:
            return
        time.sleep(0.25)
    raise AssertionError(f"audio did not advance {seconds} s (at {_playing(frame)}, "
                         f"state {frame.evaluate('JSON.stringify(window.townhall)')})")


def test_embed_on_another_origin_plays_live_then_the_replay_within_its_budget(
        server: Server, news: tuple[str, str, dict[str, Any]], tmp_path: Path) -> None:
    url, sid, doc = news
    pusher = push_tone(doc["ingest_url"], 16, 600)
    try:
        server.wait_on_air(sid, 30)
        with chromium(tmp_path / "profile") as ctx:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            loaded: list[tuple[str, int]] = []

            def count(res: Response) -> None:
                if res.url.startswith(server.base_url):
                    try:
                        loaded.append((res.url, len(res.body())))
                    except Exception:  # a redirect or a body gone: no bytes to count
                        loaded.append((res.url, 0))

            page.on("response", count)
            page.goto(url)
            frame = page.frame_locator("#player")
            badge = frame.locator("#badge")
            badge.wait_for()
            page.wait_for_function(
                "() => document.querySelector('#player').contentDocument === null")
            embed = next(f for f in page.frames if f.url.startswith(server.base_url))
            embed.wait_for_function("document.getElementById('badge').textContent === 'LIVE'")
            page.wait_for_load_state("networkidle")
            before_play = sum(n for _, n in loaded)
            assert before_play <= BUDGET_BYTES, loaded
            assert not any("hls" in u for u, _ in loaded)  # hls.js comes with play

            frame.locator("#play").click()
            _wait_advancing(embed, 2.0, 30)
            assert "/live/" in embed.evaluate("window.townhall.playing")
            assert pusher.wait(60) == 0
            assert server.end_space(doc).status_code == 200
            embed.wait_for_function(
                "document.getElementById('badge').textContent === 'REPLAY'", timeout=60_000)
            embed.wait_for_function("(window.townhall.playing || '').includes('/replay/')",
                                    timeout=30_000)
            _wait_advancing(embed, 1.0, 30)
            print(f"embed before play: {before_play} bytes in {len(loaded)} responses")
    finally:
        stop_process(pusher)


def test_embed_shows_the_replay_transcript_as_captions(tmp_path: Path) -> None:
    """A captioned space's replay in the embed: the CC button appears, and the transcript's
    cues are shown as the replay plays (the live captions rendition is the listening page's,
    tests/browser/test_captions_browser.py)."""
    need_espeak()
    wav = speak_wav(" ".join(SENTENCES[:2]), tmp_path / "speech.wav")
    srv = start_server(tmp_path / "data", "--captions", "--set", "shed_lag_scale=20",
                       "--set", "transcript_poll_s=0.5")
    try:
        doc = srv.create_space(title="Captioned")
        sid = doc["id"]
        assert push_speech(doc["ingest_url"], wav).wait(120) == 0
        time.sleep(8)  # the recogniser's cues reach their segments before the end
        assert srv.end_space(doc).status_code == 200
        transcript = f"{srv.base_url}/replay/{sid}/transcript.vtt"
        deadline = time.monotonic() + 30
        while httpx.get(transcript, timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "no transcript"
            time.sleep(0.5)
        httpd, url = _news_site(f"{srv.base_url}/embed/{sid}")
        try:
            with chromium(tmp_path / "profile") as ctx:
                page = ctx.pages[0] if ctx.pages else ctx.new_page()
                page.goto(url)
                page.frame_locator("#player").locator("#badge").wait_for()
                embed = next(f for f in page.frames if f.url.startswith(srv.base_url))
                embed.wait_for_function(
                    "document.getElementById('badge').textContent === 'REPLAY'")
                embed.locator("#play").click()
                embed.wait_for_function("!document.getElementById('cc').hidden")
                embed.locator("#cc").click()
                embed.wait_for_function(
                    "document.getElementById('cap').textContent.trim().length > 3",
                    timeout=30_000)
                shown = embed.evaluate("document.getElementById('cap').textContent")
                print(f"embed caption: {shown!r}")
        finally:
            httpd.shutdown()
            httpd.server_close()
    finally:
        stop_server(srv)

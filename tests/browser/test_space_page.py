"""The listener and host pages in headless Chromium against a real `townhall serve`.

A test tone is pushed with `townhall broadcast`, as a live source would; the page joins, plays
LL-HLS through hls.js, counts down before the start, offers the replay after the end. The host
page shows the ingest URL and ends the space. Browser fixtures: tests/browser/conftest.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, expect

from harness.server import Server, stop_process
from tests.browser.page_checks import goto

pytestmark = pytest.mark.slow

PLAYBACK_JS = """() => {
  const a = document.getElementById('audio'), buffered = [];
  for (let i = 0; i < a.buffered.length; i++) {
    buffered.push([a.buffered.start(i), a.buffered.end(i)]);
  }
  const hls = window.townhall.hls;
  return { currentTime: a.currentTime, paused: a.paused, readyState: a.readyState, buffered,
           latency: hls ? hls.latency : null, playing: window.townhall.playing,
           errors: window.townhall.errors };
}"""


def make_tone(path: Path, seconds: float, freq: int = 440) -> Path:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"sine=frequency={freq}:duration={seconds}", "-c:a", "aac", str(path)],
        check=True, timeout=60)
    return path


@contextmanager
def broadcasting(path: Path, ingest_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`townhall broadcast` in a subprocess, stopped whenever the block exits."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "townhall.cli", "broadcast", str(path),
             "--ingest-url", ingest_url], stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            stop_process(proc)


def playback(page: Page) -> dict[str, Any]:
    """What the audio element and hls.js are doing (for assertion messages)."""
    out: dict[str, Any] = page.evaluate(PLAYBACK_JS)
    return out


def current_time(page: Page) -> float:
    return float(page.evaluate("document.getElementById('audio').currentTime"))


def fatal_errors(page: Page) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = page.evaluate("window.townhall.errors")
    return [e for e in errors if e.get("fatal")]


def wait_playing(page: Page, above_s: float, timeout_ms: int = 20_000) -> None:
    page.wait_for_function(
        f"document.getElementById('audio').currentTime > {above_s}", timeout=timeout_ms)


@pytest.mark.timing  # real time, measured against a figure: runs alone
def test_space_page_plays_live_audio_without_hls_errors(
        server: Server, page: Page, tmp_path: Path) -> None:
    doc = server.create_space(title="Browser live test", host="Ada Lovelace")
    tone = make_tone(tmp_path / "tone.m4a", 30)
    log = tmp_path / "broadcast.log"
    with broadcasting(tone, doc["ingest_url"], log) as proc:
        goto(page, doc["page_url"])
        expect(page.locator("#state")).to_have_text("live")
        wait_playing(page, 0.5)
        assert proc.poll() is None, log.read_text()

        t0, w0 = current_time(page), time.monotonic()
        page.wait_for_timeout(10_000)
        t1, w1 = current_time(page), time.monotonic()
        advanced, wall = t1 - t0, w1 - w0
        assert 8.5 <= advanced <= wall + 1.0, (
            f"audio advanced {advanced:.2f} s in {wall:.2f} s: {playback(page)}")
        assert not page.evaluate("document.getElementById('audio').paused")
        assert fatal_errors(page) == [], playback(page)

        expect(page.locator("#title")).to_have_text("Browser live test")
        expect(page.locator("#host")).to_have_text("Ada Lovelace")
        expect(page).to_have_title("Browser live test — townhall")
        expect(page.locator("#state")).to_have_text("live")
        expect(page.locator("#when")).to_contain_text("Live since")
        page.wait_for_function(
            "parseInt(document.getElementById('listeners').textContent, 10) >= 1")
        expect(page.locator("#error")).to_be_hidden()
        expect(page.locator("#listen")).to_be_hidden()  # autoplay was allowed
        page.screenshot(path=str(tmp_path / "space-live.png"), full_page=True)
        assert server.details(doc["id"])["listeners"]["now"] >= 1
        assert proc.poll() is None, log.read_text()


def test_space_page_shows_countdown_before_start_and_replay_after_end(
        server: Server, page: Page, tmp_path: Path) -> None:
    start = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc = server.create_space(title="Later today", host="Grace", scheduled_start=start)
    goto(page, doc["page_url"])
    expect(page.locator("#state")).to_have_text("scheduled")
    when = page.locator("#when")
    expect(when).to_have_text(re.compile(r"^Starts in (\d+:)?\d{1,2}:\d\d$"))
    first = when.text_content()
    expect(when).not_to_have_text(first or "", timeout=5_000)  # the countdown ticks
    expect(page.locator("#replay")).to_be_hidden()

    tone = make_tone(tmp_path / "short.m4a", 6)
    log = tmp_path / "broadcast.log"
    with broadcasting(tone, doc["ingest_url"], log) as proc:
        expect(page.locator("#state")).to_have_text("live")  # went live early: fine
        expect(page.locator("#announce")).to_have_text("The space is live.")  # screen readers
        assert proc.wait(30) == 0, log.read_text()
    res = server.end_space(doc)
    assert res.status_code == 200, res.text
    assert res.json()["replay_url"], res.json()

    goto(page, doc["page_url"])  # reload (again while the origin sheds the page)
    expect(page.locator("#state")).to_have_text("ended")
    expect(when).to_contain_text("Ended")
    replay_link = page.locator("#replay-link")
    expect(replay_link).to_be_visible()
    expect(replay_link).to_have_text("Play the replay")
    download = page.locator("#download-link")
    expect(download).to_be_visible()
    expect(download).to_have_attribute("href", re.compile(r"/replay/[^/]+\.m4a$"))

    replay_link.click()
    page.wait_for_function("(window.townhall.playing || '').includes('/replay/')")
    wait_playing(page, 0.3)
    t0 = current_time(page)
    page.wait_for_timeout(2_000)
    t1 = current_time(page)
    assert t1 - t0 >= 1.5, f"the replay advanced {t1 - t0:.2f} s in 2 s: {playback(page)}"
    assert fatal_errors(page) == [], playback(page)


def test_host_page_shows_ingest_url_and_ends_the_space(server: Server, page: Page) -> None:
    doc = server.create_space(title="Host view test", host="Linus")
    goto(page, doc["host_url"])
    expect(page.locator("#panel")).to_be_visible()
    expect(page.locator("#title")).to_have_text("Host view test")
    expect(page.locator("#state")).to_have_text("scheduled")
    assert doc["ingest_url"].startswith("icecast://")
    expect(page.locator("#ingest")).to_have_text(doc["ingest_url"])
    expect(page.locator("#ffmpeg")).to_contain_text(doc["ingest_url"])
    assert "#key=" not in page.url, "the host key should leave the address bar"

    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.locator("#end").click()
    expect(page.locator("#state")).to_have_text("ended")
    expect(page.locator("#end")).to_be_disabled()
    assert len(dialogs) == 1 and "End this space" in dialogs[0]
    assert server.details(doc["id"])["state"] == "ended"

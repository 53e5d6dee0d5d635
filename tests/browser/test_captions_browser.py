"""The listening page shows live captions: hls.js picks up the WebVTT rendition, the page
offers a Captions button, and once on, each cue is shown large in a polite live region (one
whole cue at a time), at phone width, in time with the audio. Headless Debian Chromium
(tests/browser/conftest.py).

On the standard latency tier (whole segments, about three target durations behind live): a
low-latency player plays about a second behind live, before the recogniser has settled that
audio (2-5 s), and hls.js does not go back for subtitle segments behind its playhead, so LL
listeners see no captions yet (docs/captions.md)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from harness.server import Server, start_server, stop_process, stop_server
from harness.speech import SENTENCES, need_espeak, speak_wav, words
from tests.browser.page_checks import goto
from tests.captions.test_live_captions import push_speech

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    need_espeak()
    s = start_server(tmp_path / "data", "--captions", "--set", "latency_tier=standard")
    try:
        yield s
    finally:
        stop_server(s)


def test_the_page_shows_captions_of_what_is_said_at_phone_width_on_the_standard_tier(
        server: Server, page: Page, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    doc = server.create_space()
    spoken = " ".join(SENTENCES[1:4])
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
        assert len(seen & set(words(spoken))) >= 5, seen
        width = page.evaluate("document.getElementById('captions').getBoundingClientRect()"
                              ".right")
        assert width <= 390
    finally:
        stop_process(source)

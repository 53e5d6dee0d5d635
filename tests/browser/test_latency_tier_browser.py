"""The latency tier under pressure, end to end: once a space's audience passes what the edges
carry at low latency, the details announce the standard tier; a page joining then plays the
standard playlist, a page already playing keeps low latency, neither stalls, and
`townhall loadtest` listeners follow the tier too."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from harness.server import Server, push_tone, start_server, stop_process, stop_server
from tests.browser.test_space_page import current_time, fatal_errors, playback, wait_playing
from townhall.loadtest import LoadConfig, run_load

pytestmark = [pytest.mark.slow, pytest.mark.timing]


@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[Server]:
    """An origin whose edges (say) carry one low-latency listener per space."""
    srv = start_server(tmp_path / "data", "--set", "ll_listeners_max=1")
    try:
        yield srv
    finally:
        stop_server(srv)


def playing_name(page: Page) -> str:
    return str(page.evaluate("window.townhall.playing || ''")).split("?")[0].rsplit("/", 1)[-1]


def advance(pages: list[Page], seconds: float) -> list[float]:
    """How far each page's audio advanced while `seconds` of wall time passed."""
    start = [current_time(p) for p in pages]
    t0 = time.monotonic()
    pages[0].wait_for_timeout(seconds * 1000)
    wall = time.monotonic() - t0
    return [current_time(p) - s - wall for p, s in zip(pages, start, strict=True)]


def test_joiners_move_to_the_standard_tier_under_pressure_and_pages_follow_without_stalls(
        crowded: Server, context: BrowserContext, page: Page) -> None:
    srv = crowded
    doc = srv.create_space(title="Tiers")
    tone = push_tone(doc["ingest_url"], 90)
    try:
        srv.wait_on_air(doc["id"], timeout=30)
        assert srv.details(doc["id"])["latency_tier"] == "low"
        page.goto(doc["page_url"])
        expect(page.locator("#state")).to_have_text("live")
        wait_playing(page, 0.5)
        assert playing_name(page) == "master.m3u8"  # low latency: LL-HLS

        srv.join(doc["id"])  # a second listener: past what the edges carry at low latency
        deadline = time.monotonic() + 10
        while srv.details(doc["id"])["latency_tier"] != "standard":
            assert time.monotonic() < deadline, srv.details(doc["id"])
            time.sleep(0.2)
        details = srv.details(doc["id"])
        assert (details["tier_playlist"], details["tier_reason"]) == ("standard.m3u8", "edge")

        late = context.new_page()
        late.goto(doc["page_url"])
        expect(late.locator("#state")).to_have_text("live")
        wait_playing(late, 0.5, timeout_ms=30_000)
        assert playing_name(late) == "standard.m3u8"
        assert playing_name(page) == "master.m3u8"  # a playing listener keeps its tier
        lost = advance([page, late], 8)
        assert all(d > -1.0 for d in lost), (lost, playback(page), playback(late))
        assert fatal_errors(page) == [] and fatal_errors(late) == []

        cfg = LoadConfig(target=srv.base_url, space=doc["id"], listeners=3, duration_s=10,
                         join_window_s=0.5, seed=3)
        with ThreadPoolExecutor(1) as pool:  # Playwright's loop owns this thread
            report = pool.submit(asyncio.run, run_load(cfg)).result(timeout=60)
        assert report.events.get("tier:standard", 0) == 3, report.events
        assert (report.played, report.stalls, report.errors) == (3, 0, {})
    finally:
        stop_process(tone)

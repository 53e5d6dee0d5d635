"""Two headless Chromium pages with fake microphones go live in one space, as the host (host
page, host key) and as an invited speaker (speaker page, speaker link), and hear each other."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page

from harness.server import Server, start_server, stop_server
from tests.browser.conftest import chromium

pytestmark = pytest.mark.slow
MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]

INBOUND = """async () => {
  if (!window.thLive) return null;
  const s = await window.thLive.inbound();
  return s && { packets: s.packetsReceived, bytes: s.bytesReceived,
                energy: s.totalAudioEnergy || 0, state: window.thLive.pc.connectionState };
}"""


def chromium_with_fake_mic(profile: Path) -> AbstractContextManager[BrowserContext]:
    return chromium(profile, MEDIA_ARGS)


@pytest.fixture
def webrtc_server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data", "--set", "ice_host_addresses=127.0.0.1",
                       "--set", "whip_candidate_networks=127.0.0.0/8")
    try:
        yield srv
    finally:
        stop_server(srv)


def on_stage(server: Server, space_id: str) -> set[str]:
    """Who the public details list as live (retrying a 503: the origin sheds under load)."""
    for _ in range(20):
        res = httpx.get(f"{server.base_url}/api/spaces/{space_id}", timeout=10)
        if res.status_code != 503:
            res.raise_for_status()
            return {s["id"] for s in res.json()["speakers"]}
        time.sleep(0.25)
    raise AssertionError("the details stayed unavailable")


def inbound(page: Page) -> dict[str, Any] | None:
    stats: dict[str, Any] | None = page.evaluate(INBOUND)
    return stats


def wait_inbound(page: Page, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = inbound(page)
        if stats is not None and stats["state"] == "connected" and stats["packets"] > 0:
            return stats
        page.wait_for_timeout(200)
    raise AssertionError(f"no inbound audio on {page.url}: {inbound(page)}")


def test_host_and_speaker_pages_go_live_and_hear_each_other(
        webrtc_server: Server, tmp_path: Path) -> None:
    # set up before Chromium starts: its launch loads the CPU, and the origin sheds writes
    # under event-loop lag (503) by design
    space = webrtc_server.create_space(title="Browser voices", host="Ada")
    res = httpx.post(f"{webrtc_server.base_url}/api/spaces/{space['id']}/speakers",
                     json={"name": "Grace"},
                     headers={"Authorization": f"Bearer {space['host_key']}"}, timeout=10)
    assert res.status_code == 201, res.text
    with chromium_with_fake_mic(tmp_path / "profile") as browser:
        two_pages_hear_each_other(webrtc_server, browser, space, res.json())


def two_pages_hear_each_other(server: Server, browser: BrowserContext, space: dict[str, Any],
                              guest: dict[str, Any]) -> None:
    host = browser.pages[0] if browser.pages else browser.new_page()
    host.goto(space["host_url"])
    host.locator("#go-live").click()
    speaker = browser.new_page()
    speaker.goto(guest["speak_url"])
    speaker.locator("#go-live").click()

    before = {"host": wait_inbound(host), "speaker": wait_inbound(speaker)}
    host.wait_for_timeout(2500)
    after = {"host": inbound(host), "speaker": inbound(speaker)}
    for who in ("host", "speaker"):
        a, b = before[who], after[who]
        assert b is not None and b["state"] == "connected", (who, b)
        # ~50 packets/s of Opus arrive, and they carry sound (the other's fake mic beeps)
        assert b["packets"] - a["packets"] > 50, (who, a, b)
        assert b["bytes"] > a["bytes"], (who, a, b)
        assert b["energy"] > a["energy"], (who, a, b)

    assert on_stage(server, space["id"]) == {"host", guest["id"]}
    # the host page lists the speaker as live; the speaker page lists both on stage
    host.locator(f'#seats li[data-seat="{guest["id"]}"]').filter(has_text="live").wait_for()
    assert speaker.locator("#stage li").count() == 2
    # leaving from the page ends the WHIP session (DELETE): the speaker is off stage
    speaker.locator("#leave").click()
    deadline = time.monotonic() + 5
    while guest["id"] in on_stage(server, space["id"]):
        assert time.monotonic() < deadline, "the speaker is still on stage after leaving"
        time.sleep(0.2)

"""End to end in Debian's Chromium with fake microphones: a listener asks to speak from the
listener page, the host approves from the host page, the listener's page goes on stage over
WHIP, and a third page (a plain listener) hears both: both speaking rings light on its stage,
the program carries both sources, and its player outputs sound. The third page is also the
"live with two speakers" state of the page checks (screenshots, console, axe)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.server import Server, start_server, stop_server
from tests.browser.page_checks import ConsoleWatch, check_state, goto
from tests.browser.test_speakers_browser import chromium_with_fake_mic, inbound, wait_inbound

pytestmark = pytest.mark.slow

ANALYSE = """() => {
  const a = document.getElementById('audio');
  const ctx = new AudioContext();
  const src = ctx.createMediaElementSource(a);
  const an = ctx.createAnalyser();
  an.fftSize = 2048;
  src.connect(an); an.connect(ctx.destination);
  window.__loudest = 0;
  const buf = new Float32Array(an.fftSize);
  setInterval(() => {
    an.getFloatTimeDomainData(buf);
    let sum = 0; for (const v of buf) sum += v * v;
    window.__loudest = Math.max(window.__loudest, Math.sqrt(sum / buf.length));
  }, 50);
}"""


@pytest.fixture
def webrtc_server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data", "--set", "ice_host_addresses=127.0.0.1")
    try:
        yield srv
    finally:
        stop_server(srv)


def speakers(server: Server, space_id: str) -> list[dict[str, Any]]:
    for _ in range(20):
        res = httpx.get(f"{server.base_url}/api/spaces/{space_id}", timeout=10)
        if res.status_code != 503:  # the origin sheds under CPU load, by design
            res.raise_for_status()
            out: list[dict[str, Any]] = res.json()["speakers"]
            return out
        time.sleep(0.25)
    raise AssertionError("the details stayed unavailable")


def test_listener_asks_host_approves_and_a_third_page_hears_both(
        webrtc_server: Server, tmp_path: Path) -> None:
    space = webrtc_server.create_space(title="Open mic night", host="Ada Lovelace")
    with chromium_with_fake_mic(tmp_path / "profile") as browser:
        host = browser.pages[0] if browser.pages else browser.new_page()
        host_console = ConsoleWatch(host)
        goto(host, space["host_url"])
        # the host view appears with its first answer; the origin may shed a few under load
        host.locator("#panel").wait_for(timeout=60_000)
        host.locator("#go-live").click()
        webrtc_server.wait_on_air(space["id"], 30)

        guest = browser.new_page()
        guest_console = ConsoleWatch(guest)
        goto(guest, space["page_url"])
        guest.locator("#request").click()
        guest.locator("#speak-name").fill("Grace Hopper")
        guest.locator("#speak-form button[type=submit]").click()
        guest.locator("#waiting-hand").wait_for()

        request = host.locator("#requests li", has_text="Grace Hopper")
        request.wait_for()
        request.locator("button[data-action=approve]").click()

        # the guest's page asks for the microphone by itself and goes on stage
        guest.locator("#onstage").wait_for(timeout=30_000)
        wait_inbound(guest, 20)  # and hears the host directly over WebRTC
        wait_inbound(host, 20)   # the host hears the guest
        guest.wait_for_function(
            "document.getElementById('announce').textContent.includes('on stage')")
        live = speakers(webrtc_server, space["id"])
        assert {s["name"] for s in live} == {"Ada Lovelace", "Grace Hopper"}, live
        assert guest.evaluate("document.getElementById('audio').muted"), \
            "an on-stage listener must not hear the program (and themselves) late"

        third = browser.new_page()
        third_console = ConsoleWatch(third)
        goto(third, space["page_url"])
        third.wait_for_function("document.getElementById('audio').currentTime > 1",
                                timeout=30_000)
        third.evaluate(ANALYSE)
        ids = {s["id"] for s in live}
        lit: set[str] = set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
                lit != ids or third.evaluate("window.__loudest") < 0.01):
            lit |= set(third.evaluate(
                "[...document.querySelectorAll('#stage li.seat.speaking')]"
                ".map(li => li.dataset.seat)"))
            third.wait_for_timeout(100)
        assert lit == ids, f"speaking rings lit for {lit}, on stage {ids}"
        loudest = third.evaluate("window.__loudest")
        assert loudest >= 0.01, f"the third page played silence (RMS {loudest})"
        level = httpx.get(f"{webrtc_server.base_url}/api/spaces/{space['id']}/host/level",
                          headers={"Authorization": f"Bearer {space['host_key']}"}).json()
        assert len(level["sources"]) == 2, level  # both speakers feed the program

        check_state(third, "live-two-speakers")
        check_state(guest, "on-stage")
        for watch in (host_console, guest_console, third_console):
            assert watch.unexpected() == [], watch.errors

        guest.locator("#leave").click()
        deadline = time.monotonic() + 10
        while len(speakers(webrtc_server, space["id"])) != 1:
            assert time.monotonic() < deadline, "the guest is still on stage after leaving"
            time.sleep(0.2)
        assert inbound(guest) is None

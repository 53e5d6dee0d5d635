"""A speaker's page outlives its origin: headless Chromium (fake microphone) on the speaker
page, through the edge of a two-origin cluster, is on air; the origin carrying its WebRTC
session and the program is killed (-9); the page says "reconnecting…", publishes again through
the edge by itself, says "on air", and its voice is in the program again, from the survivor."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from harness.cluster import cluster, wait_for
from harness.edge import start_edge_over
from harness.server import free_port
from tests.audibility import audibility
from tests.browser.test_speakers_browser import chromium_with_fake_mic
from tests.cluster.source_helpers import playing_now

pytestmark = [pytest.mark.slow, pytest.mark.timing]
WEBRTC = ("--set", "ice_host_addresses=127.0.0.1", "--set", "whip_candidate_networks=127.0.0.0/8",
          "--idle-pause", "60")
# kill -> the page on air again (lease ~1.5 s, notice, backoff): README 3.7 s; kill -> the
# voice heard in the program again: README "within 8 s"; both held within 2x
BACK_ON_AIR_S = 7.4
HEARD_AGAIN_S = 16.0
WAIT_S = 30  # how long to wait before failing (the figure is asserted apart)


def audible_s(edge_url: str, space_id: str) -> float:
    return audibility(*playing_now(edge_url, space_id, parts=12)).audible_s


def test_a_speaker_page_rejoins_by_itself_when_its_origin_dies(tmp_path: Path) -> None:
    edge_port = free_port()
    with cluster(tmp_path, 2, edge_port, *WEBRTC) as c:
        edge = start_edge_over({f"o{i}": o for i, o in enumerate(c.origins)},
                               tmp_path / "edge", edge_port)
        try:
            space = c.origins[0].create_space(title="Rejoin", host="Ada")
            sid = space["id"]
            res = httpx.post(f"{edge.url}/api/spaces/{sid}/speakers", json={"name": "Grace"},
                             headers={"Authorization": f"Bearer {space['host_key']}"},
                             timeout=10)
            assert res.status_code == 201, res.text
            guest = res.json()
            assert guest["speak_url"].startswith(edge.url)
            with chromium_with_fake_mic(tmp_path / "profile") as browser:
                page = browser.pages[0] if browser.pages else browser.new_page()
                page.goto(guest["speak_url"])
                page.locator("#go-live").click()
                expect(page.locator("#conn")).to_have_text("on air", timeout=20_000)
                wait_for(lambda: httpx.get(f"{edge.url}/api/spaces/{sid}").json()["on_air"],
                         20, "on air through the edge")
                first = c.holder(sid)
                assert first is not None
                wait_for(lambda: audible_s(edge.url, sid) > 0.1, 15, "the speaker heard")
                names = dict(zip("ab", c.origins, strict=True))
                names[first].process.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                page.wait_for_function("window.thLive && window.thLive.reconnects >= 1",
                                       timeout=WAIT_S * 1000)
                expect(page.locator("#conn")).to_have_text("on air",
                                                           timeout=WAIT_S * 1000)
                back_s = time.monotonic() - killed
                shown = page.evaluate("window.thLive.history")
                # what the speaker saw: on air, reconnecting…, on air again
                assert shown[-2:] == ["reconnecting…", "on air"], shown
                assert page.locator("#go-live").is_hidden()  # never asked to click again
                survivor = next(n for n in names if n != first)
                wait_for(lambda: c.holder(sid) == survivor, 10, "the survivor holds it")
                # the voice is in the program again: parts published after the rejoin
                time.sleep(3)
                wait_for(lambda: audible_s(edge.url, sid) > 0.1, 15, "the speaker heard again")
                heard_s = time.monotonic() - killed
                print(f"speaker page: on air again after "
                      f"{back_s:.1f} s, heard in the program after {heard_s:.1f} s")
                assert back_s < BACK_ON_AIR_S and heard_s < HEARD_AGAIN_S, (back_s, heard_s)
        finally:
            edge.stop()

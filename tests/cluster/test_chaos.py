"""Chaos: three origins, one edge, real Redis and real PostgreSQL; a live space with a
`townhall broadcast` source, a guest speaking from the speaker page (headless Chromium, fake
microphone, WebRTC through the edge) and 100 simulated listeners through the edge. The origin
running the program is killed (-9), then Redis is stopped for 8 s and restarted, then
PostgreSQL is restarted. Listeners hear at most one short gap and see no error, the broadcast
and the speaker page come back on air by themselves (the page says so, and every origin's
details show the guest live again), and the replay (in PostgreSQL, served by every origin)
holds every part a listener received, byte for byte."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from harness.cluster import cluster, wait_for
from harness.edge import start_edge_over
from harness.hls_client import decode
from harness.postgres import Postgres
from harness.server import free_port, stop_process, tone_power
from tests.browser.test_speakers_browser import chromium_with_fake_mic
from townhall.recording.frames import progressive_frames

pytestmark = [pytest.mark.slow, pytest.mark.timing]
LISTENERS = 100
WEBRTC = ("--set", "ice_host_addresses=127.0.0.1", "--set", "whip_candidate_networks=127.0.0.0/8")
RUN_S = 44.0  # the listeners' run: the kill at ~10 s, Redis away from ~20 s to ~28 s,
# PostgreSQL restarted at ~31 s


class PartCollector(threading.Thread):
    """One more listener through the edge that keeps every part it receives."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.parts: dict[tuple[int, int], bytes] = {}
        self.stop = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                try:
                    res = client.get(f"{self.base}/media.m3u8")
                    if res.status_code != 200:
                        self.errors.append(f"playlist: {res.status_code}")
                        self.stop.wait(0.2)
                        continue
                    text = res.text
                    for msn, index in re.findall(r'URI="part/(\d+)\.(\d+)\.m4s"', text):
                        key = (int(msn), int(index))
                        if key not in self.parts:
                            res = client.get(f"{self.base}/part/{msn}.{index}.m4s")
                            if res.status_code == 200:
                                self.parts[key] = res.content
                            else:
                                self.errors.append(f"part {msn}.{index}: {res.status_code}")
                except httpx.HTTPError as exc:  # a listener would see this as an error
                    self.errors.append(repr(exc))
                    self.stop.wait(0.2)
                    continue
                if "#EXT-X-ENDLIST" in text:
                    return
                self.stop.wait(0.3)


def on_stage(base_url: str, space_id: str) -> set[str]:
    """Who an origin's details list as live (nobody while it answers 429 or 503)."""
    res = httpx.get(f"{base_url}/api/spaces/{space_id}", timeout=10)
    return {s["id"] for s in res.json()["speakers"]} if res.status_code == 200 else set()


def test_a_live_space_outlives_its_origin_and_a_redis_outage(
        tmp_path: Path, postgres: Postgres, pg_url: str) -> None:
    edge_port = free_port()
    tone = tmp_path / "tone.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=20", "-c:a", "aac", str(tone)], check=True)
    with cluster(tmp_path, 3, edge_port, "--idle-pause", "60", *WEBRTC, database=pg_url) as c, \
            chromium_with_fake_mic(tmp_path / "profile") as browser:
        edge = start_edge_over({f"o{i}": o for i, o in enumerate(c.origins)},
                               tmp_path / "edge", edge_port)
        names = {o.base_url: n for o, n in zip(c.origins, "abc", strict=True)}
        speaker = load = None
        collector: PartCollector | None = None
        logs = [open(tmp_path / name, "wb") for name in ("speaker.log", "load.log")]  # noqa: SIM115
        try:
            doc = c.origins[0].create_space(title="chaos")
            sid = doc["id"]
            speaker = subprocess.Popen(
                [sys.executable, "-m", "townhall.cli", "broadcast", str(tone), "--loop",
                 "--server", edge.url, "--space", sid, "--key", doc["host_key"]],
                stdout=logs[0], stderr=subprocess.STDOUT)
            wait_for(lambda: httpx.get(f"{edge.url}/api/spaces/{sid}").json()["on_air"], 30,
                     "on air through the edge")
            first = c.holder(sid)
            assert first is not None
            guest = httpx.post(f"{edge.url}/api/spaces/{sid}/speakers", json={"name": "Grace"},
                               headers={"Authorization": f"Bearer {doc['host_key']}"},
                               timeout=10).json()
            page = browser.pages[0] if browser.pages else browser.new_page()
            page.goto(guest["speak_url"])  # the speaker page, through the edge
            page.locator("#go-live").click()
            expect(page.locator("#conn")).to_have_text("on air", timeout=20_000)
            joined = httpx.post(f"{edge.url}/api/spaces/{sid}/join", json={}, timeout=10).json()
            collector = PartCollector(joined["playlist_url"].rsplit("/", 1)[0])
            collector.start()
            load = subprocess.Popen(
                [sys.executable, "-m", "townhall.cli", "loadtest", "--target", edge.url,
                 "--space", sid, "--listeners", str(LISTENERS), "--duration", str(RUN_S),
                 "--join-window", "6", "--report", str(tmp_path / "load.json"), "--quiet"],
                stdout=logs[1], stderr=subprocess.STDOUT)
            time.sleep(10)  # every listener is playing
            holder = next(o for o in c.origins if names[o.base_url] == first)
            holder.process.send_signal(signal.SIGKILL)  # the program's origin dies
            killed = time.monotonic()
            wait_for(lambda: c.holder(sid) not in (None, first), 5, "a standby to take over")
            took_over_s = time.monotonic() - killed
            new = next(o for o in c.origins if names[o.base_url] == c.holder(sid))
            # the speaker reconnects through the edge by itself: its tone is on air again
            init = httpx.get(f"{collector.base}/init.mp4", timeout=10).content
            newest = max(collector.parts)
            wait_for(lambda: tone_power(*decode(init + collector.parts[max(collector.parts)]),
                                        440) > 0.5 and max(collector.parts) > newest, 20,
                     "the speaker back on air")
            assert "takes the program over" in new.log()
            # the speaker page notices, says "reconnecting…", and is on air again by itself
            page.wait_for_function("window.thLive && window.thLive.reconnects >= 1",
                                   timeout=30_000)
            expect(page.locator("#conn")).to_have_text("on air", timeout=30_000)
            assert page.evaluate("window.thLive.history")[-2:] == ["reconnecting…", "on air"]
            page_back_s = time.monotonic() - killed
            alive = [o for o in c.origins if o.process.poll() is None]
            wait_for(lambda: all(guest["id"] in on_stage(o.base_url, sid) for o in alive), 10,
                     "the guest live again in every origin's details")
            time.sleep(max(0.0, killed + 10 - time.monotonic()))
            c.redis.stop()  # Redis away for 8 s: listeners play on, details answer
            for _ in range(8):
                details = httpx.get(f"{edge.url}/api/spaces/{sid}", timeout=10)
                assert details.status_code == 200 and details.json()["state"] == "live"
                time.sleep(1)
            join = httpx.post(f"{edge.url}/api/spaces/{sid}/join", json={}, timeout=10)
            assert join.status_code == 200, join.text  # joins go on without Redis
            c.redis.start()
            wait_for(lambda: c.holder(sid) is not None, 10, "the lease held again")
            time.sleep(3)
            postgres.stop()  # PostgreSQL restarted: the live space goes on
            postgres.start()
            assert load.wait(RUN_S + 60) == 0, (tmp_path / "load.log").read_text()
            report = json.loads((tmp_path / "load.json").read_text())
            assert report["played"] == LISTENERS, report["listeners_by_state"]
            assert sum(report["errors"].values()) == 0, report["errors"]
            assert not report["crashes"]
            # a stall that came with the load generator's own loop lag is the generator's,
            # not the service's: printed, not held against the service
            print("stalls by second (t, stalls, of them with the generator's lag, seconds):",
                  [(s["t"], s["stalls"], s["stalls_generator_lag"], round(s["stalled_s"], 2))
                   for s in report["timeline"] if s["stalls"]])
            stall_seconds = [s["t"] for s in report["timeline"]
                             if s["stalls"] > s["stalls_generator_lag"]]
            for o in c.origins:
                print(o.log()[-800:])
            # at most one gap (the service's stalls in one 4-second window), and no listener
            # stalled for 3 s or more in all
            if stall_seconds:
                assert max(stall_seconds) - min(stall_seconds) <= 4, stall_seconds
            assert report["listener_stalled_max_s"] < 3.0, report["listener_stalled_max_s"]
            end = httpx.post(f"{edge.url}/api/spaces/{sid}/end", timeout=30,
                             headers={"Authorization": f"Bearer {doc['host_key']}"})
            assert end.status_code == 200, end.text
            collector.stop.set()
            collector.join(15)
            assert collector.errors == [], collector.errors  # the kept listener saw no error
            manifest = httpx.get(f"{edge.url}/replay/{sid}/manifest.json", timeout=10).json()
            segments = {e["msn"]: httpx.get(f"{edge.url}/replay/{sid}/seg/{e['msn']}.m4s",
                                            timeout=10).content for e in manifest["segments"]}
            assert len(collector.parts) > 100
            for (msn, index), data in collector.parts.items():  # nothing heard is lost
                assert data in segments.get(msn, b""), f"part {msn}.{index} not in the replay"
            alive = [o for o in c.origins if o.process.poll() is None]
            replays = {o.base_url: httpx.get(f"{o.base_url}/replay/{sid}.m4a", timeout=30)
                       for o in alive}
            assert all(r.status_code == 200 for r in replays.values()), {
                url: (r.status_code, r.text[:300]) for url, r in replays.items()
                if r.status_code != 200}
            # each origin signs its own copy (Content Credentials differ by signature and
            # time); the audio, access unit by access unit, is the same everywhere
            audio = {b"".join(progressive_frames(r.content)[0]) for r in replays.values()}
            assert len(audio) == 1, "the origins' replays differ"
            print(f"speaker page on air again {page_back_s:.1f} s after the kill")
            print(f"lease moved in {took_over_s:.2f} s; stalls {report['stalls']} "
                  f"({report['stalled_s']:.2f} s in {report['listeners_with_stalls']} "
                  f"listeners) at t={stall_seconds}")
            assert took_over_s <= 2.5
        finally:
            if collector is not None:
                collector.stop.set()
                collector.join(15)
            for p in (speaker, load):
                if p is not None:
                    stop_process(p)
            edge.stop()
            for f in logs:
                f.close()

"""The replay's HTTP in Chromium, and pages on another site: a 20 s clip played through a
real nginx edge is seekable end to end and a seek to its middle plays from there (Range);
a verifier page on another origin reads the signing key, manifest and checkpoints (CORS);
a page on another origin publishes over WHIP with a fake microphone, and the trickle PATCH
a standard WHIP client sends is answered 405 readably, with no error in the console."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page

from harness.edge import Edge, origin_behind_edge
from harness.server import Server, push_tone, stop_process
from tests.browser.conftest import chromium
from tests.browser.page_checks import ConsoleWatch

pytestmark = pytest.mark.slow

MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
FLAGS = ("--set", "shed_lag_scale=20", "--set", "ice_host_addresses=127.0.0.1",
         "--set", "whip_candidate_networks=127.0.0.0/8")
CLIP_S = 20.0
TONE_S = 26  # a replay longer than the clip: whole segments of 2.24 s


class _OtherSite(BaseHTTPRequestHandler):
    """An empty page on http://localhost:PORT: another origin than the townhall at
    http://127.0.0.1:PORT (and, being loopback, a secure context for the microphone)."""

    def do_GET(self) -> None:
        body = b"<!doctype html><html lang=en><title>elsewhere</title><h1>elsewhere</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Setting:
    origin: Server
    edge: Edge
    sid: str
    manifest: dict[str, Any]
    elsewhere: str
    browser: BrowserContext


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setting]:
    root = tmp_path_factory.mktemp("replay-browser")
    site = ThreadingHTTPServer(("127.0.0.1", 0), _OtherSite)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        with origin_behind_edge(root, *FLAGS) as (origin, edge):
            doc = origin.create_space(title="Seekable", host="Host")
            push = push_tone(doc["ingest_url"], TONE_S, 440)
            try:
                origin.wait_on_air(doc["id"], 20)
                assert push.wait(TONE_S + 30) == 0
            finally:
                stop_process(push)
            assert origin.end_space(doc).status_code == 200
            manifest = httpx.get(f"{origin.base_url}/record/{doc['id']}/manifest.json",
                                 timeout=10).json()
            with chromium(root / "profile", MEDIA_ARGS) as browser:
                yield Setting(origin, edge, doc["id"], manifest,
                              f"http://localhost:{site.server_address[1]}/", browser)
    finally:
        site.shutdown()
        site.server_close()
        thread.join(5)


def _page(setting: Setting) -> tuple[Page, ConsoleWatch]:
    page = setting.browser.new_page()
    watch = ConsoleWatch(page)
    page.goto(setting.elsewhere)
    return page, watch


def _clip_of(manifest: dict[str, Any], seconds: float) -> tuple[int, int, float]:
    """The first segments that make at least `seconds`: (first msn, last msn, duration)."""
    segs = manifest["segments"]
    total = 0.0
    for i, seg in enumerate(segs):
        total += seg["duration"]
        if total >= seconds:
            return segs[0]["msn"], segs[i]["msn"], total
    raise AssertionError(f"the replay is only {total:.2f} s long")


SEEK = """async ([url, to]) => {
  const audio = document.createElement("audio");
  document.body.append(audio);
  audio.preload = "auto";
  audio.src = url;
  await new Promise((ok, bad) => { audio.onloadedmetadata = ok; audio.onerror = () =>
      bad(new Error("media error " + (audio.error && audio.error.code))); });
  const s = audio.seekable;
  const seekable = [];
  for (let i = 0; i < s.length; i++) seekable.push([s.start(i), s.end(i)]);
  const seeked = new Promise((ok) => { audio.onseeked = ok; });
  audio.currentTime = to;
  await seeked;
  const landed = audio.currentTime;
  await audio.play();
  const started = performance.now();
  while (audio.currentTime < to + 1 && performance.now() - started < 10000) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const out = { duration: audio.duration, seekable, landed, playing: audio.currentTime,
                paused: audio.paused };
  audio.pause();
  return out;
}"""


def test_a_20_s_clip_seeks_to_its_middle_in_chromium_through_the_edge(
        setting: Setting) -> None:
    first, last, duration = _clip_of(setting.manifest, CLIP_S)
    url = f"{setting.edge.url}/replay/{setting.sid}/clip/{first}-{last}.m4a"
    page, watch = _page(setting)
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.url == url else None)
    middle = duration / 2
    got = page.evaluate(SEEK, [url, middle])
    assert abs(got["duration"] - duration) < 0.1, got
    # the whole clip is seekable, not [0, 0]
    assert len(got["seekable"]) == 1, got
    start, end = got["seekable"][0]
    assert start == 0 and abs(end - duration) < 0.1, got
    # the seek lands in the middle and plays on from there (not from 0.22 s)
    assert abs(got["landed"] - middle) < 0.5, got
    assert got["playing"] >= middle + 1, got
    assert 206 in statuses, statuses  # Chromium asks for ranges: the edge answers them
    assert watch.unexpected() == []
    page.close()


VERIFY = """async (urls) => {
  const out = {};
  for (const url of urls) {
    try {
      const res = await fetch(url);
      const body = await res.json();
      out[url] = { status: res.status, etag: res.headers.get("ETag"),
                   keys: Object.keys(body).sort() };
    } catch (err) {
      out[url] = { error: String(err) };
    }
  }
  return out;
}"""


def test_a_verifier_page_on_another_site_reads_the_public_record(setting: Setting) -> None:
    page, watch = _page(setting)
    sid = setting.sid
    paths = ["/.well-known/townhall-signing.json", f"/record/{sid}/manifest.json",
             f"/record/{sid}/checkpoints.json", f"/record/{sid}/checkpoints/latest.json"]
    urls = [base + p for base in (setting.origin.base_url, setting.edge.url) for p in paths]
    got = page.evaluate(VERIFY, urls)
    for url in urls:
        assert got[url].get("status") == 200, (url, got[url])
    for base in (setting.origin.base_url, setting.edge.url):
        assert "fingerprint" in got[base + paths[0]]["keys"], got
        assert "segments" in got[base + paths[1]]["keys"], got
        assert "checkpoints" in got[base + paths[2]]["keys"], got
    assert watch.unexpected() == []
    page.close()


PUBLISH = """async ([url, token]) => {
  const session = await thWhip.publish(url, token, {});
  window.thLive = session;
  const started = performance.now();
  while (session.pc.connectionState !== "connected" && performance.now() - started < 15000) {
    await new Promise((r) => setTimeout(r, 100));
  }
  // what a standard trickle-ICE WHIP client sends next (RFC 9725 §4.3.1)
  let patch;
  try {
    const res = await fetch(session.location, { method: "PATCH", headers: {
      "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": "*",
      Authorization: "Bearer " + token }, body: "a=end-of-candidates\\r\\n" });
    patch = { status: res.status, allow: res.headers.get("Allow"),
              error: (await res.json()).error };
  } catch (err) {
    patch = { failed: String(err) };
  }
  const state = session.pc.connectionState;
  await session.stop();
  return { state, patch };
}"""


def test_a_page_on_another_site_publishes_and_reads_the_trickle_405(
        setting: Setting) -> None:
    doc = setting.origin.create_space(title="From elsewhere", host="Guest host")
    page, watch = _page(setting)
    page.add_script_tag(url=f"{setting.origin.base_url}/static/whip.js")
    for base in (setting.origin.base_url, setting.edge.url):
        got = page.evaluate(PUBLISH, [f"{base}/whip/{doc['id']}", doc["host_key"]])
        assert got["state"] == "connected", (base, got)
        assert got["patch"] == {"status": 405, "allow": "DELETE, OPTIONS",
                                "error": "method_not_allowed"}, (base, got)
        time.sleep(0.5)  # the DELETE frees the host's seat before the next publish
    # Chromium logs the 405 itself as a failed load (the status the protocol prescribes);
    # nothing else: no CORS refusal, no "Failed to fetch"
    assert watch.unexpected(lambda e: "status of 405" in e) == [], watch.errors
    page.close()

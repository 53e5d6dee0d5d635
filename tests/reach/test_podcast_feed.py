"""The podcast feed, read by a real podcast client library (feedparser) from a real server:
live items while scheduled and live, the replay as an episode whose enclosure ffmpeg plays,
conditional GET, per-key feeds, and a withdrawn replay leaving the feed."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import feedparser
import httpx
import pytest

from harness.server import push_tone, start_server, stop_server
from townhall.reach import podcast

pytestmark = pytest.mark.slow
NS = {"podcast": podcast.PODCAST, "itunes": podcast.ITUNES}


def _live_items(body: bytes) -> dict[str, dict[str, Any]]:
    root = ElementTree.fromstring(body)
    out = {}
    for el in root.iter(f"{{{podcast.PODCAST}}}liveItem"):
        guid = el.findtext("guid") or ""
        enc = el.find("enclosure")
        out[guid] = {**el.attrib, "enclosure": None if enc is None else enc.attrib["url"]}
    return out


def test_feed_lists_live_items_then_a_playable_replay_and_drops_it_when_withdrawn(
        tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--set", "shed_lag_scale=20", "--set", "feed_cache_s=0")
    try:
        base = srv.base_url
        key = httpx.post(f"{base}/api/admin/keys", json={"name": "news desk"},
                         headers=srv.hosting_headers(), timeout=10).json()
        later = srv.create_space(title="Tomorrow's talk", scheduled_start="2030-01-01T18:00:00Z")
        mine = srv.create_space(title="The interview & more", api_key=key["key"])
        sid = mine["id"]

        feed = httpx.get(f"{base}/feeds/all.xml", timeout=30)
        assert feed.status_code == 200 and "rss+xml" in feed.headers["content-type"]
        items = _live_items(feed.content)
        assert items[podcast.guid(later["id"])]["status"] == "pending"
        assert items[podcast.guid(later["id"])]["start"] == "2030-01-01T18:00:00Z"

        pusher = push_tone(mine["ingest_url"], 8, 700)
        srv.wait_on_air(sid, 30)
        items = _live_items(httpx.get(f"{base}/feeds/all.xml", timeout=30).content)
        live = items[podcast.guid(sid)]
        assert live["status"] == "live"
        assert live["enclosure"] == f"{base}/live/{sid}/master.m3u8"
        assert pusher.wait(60) == 0
        assert srv.end_space(mine).status_code == 200

        deadline = time.monotonic() + 30
        while True:  # the replay is an episode once its recording is sealed
            parsed = feedparser.parse(httpx.get(f"{base}/feeds/all.xml", timeout=60).content)
            episodes = [e for e in parsed.entries if e.get("id") == podcast.guid(sid)
                        and e.get("enclosures")]
            if episodes or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.feed.title == "townhall"
        (episode,) = episodes
        assert episode.title == "The interview & more"
        assert episode.published_parsed is not None
        (enclosure,) = episode.enclosures
        assert enclosure.href == f"{base}/replay/{sid}.m4a"
        m4a = httpx.get(enclosure.href, timeout=60)
        assert m4a.status_code == 200 and int(enclosure.length) == len(m4a.content)
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
             enclosure.href], capture_output=True, text=True, timeout=60)
        assert probe.returncode == 0, probe.stderr
        assert abs(float(probe.stdout) - float(episode.itunes_duration)) <= 1.0
        decoded = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", enclosure.href,
                                  "-f", "null", "-"], capture_output=True, timeout=60)
        assert decoded.returncode == 0, decoded.stderr

        # the host's own feed has its space and nothing else
        own = feedparser.parse(httpx.get(f"{base}/feeds/{key['id']}.xml", timeout=30).content)
        assert [e.id for e in own.entries] == [podcast.guid(sid)]

        # conditional GET: the same feed is a 304 by ETag and by date
        full = httpx.get(f"{base}/feeds/all.xml", timeout=30)
        assert "public" in full.headers["cache-control"]
        again = httpx.get(f"{base}/feeds/all.xml", timeout=30,
                          headers={"If-None-Match": full.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        dated = httpx.get(f"{base}/feeds/all.xml", timeout=30,
                          headers={"If-Modified-Since": full.headers["last-modified"]})
        assert dated.status_code == 304

        withdrawn = httpx.delete(f"{base}/api/spaces/{sid}/replay", timeout=30,
                                 headers={"Authorization": f"Bearer {mine['host_key']}"})
        assert withdrawn.status_code == 200, withdrawn.text
        after = httpx.get(f"{base}/feeds/all.xml", timeout=30,
                          headers={"If-None-Match": full.headers["etag"]})
        assert after.status_code == 200
        assert podcast.guid(sid) not in {e.get("id") for e in feedparser.parse(
            after.content).entries}
        assert httpx.get(f"{base}/feeds/nope!.xml", timeout=10).status_code == 404
    finally:
        stop_server(srv)

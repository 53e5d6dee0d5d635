"""A real nginx edge ignores query strings that do not matter: random queries on parts,
segments and init hit the cache, and playlists are keyed by the HLS directives alone."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from harness.edge import origin_metrics, start_edge
from harness.hls_client import parse_playlist
from harness.server import free_port, push_tone, start_server, stop_process, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.timing]


def cache_files(prefix: Path) -> int:
    return sum(1 for p in (prefix / "cache").rglob("*") if p.is_file())


def test_random_query_strings_create_no_cache_entries_or_origin_fetches(
        tmp_path: Path) -> None:
    edge_port = free_port()
    origin = start_server(tmp_path / "data", "--attack-mode", "off", "--public-url",
                          f"http://127.0.0.1:{edge_port}")
    edge = start_edge(origin, tmp_path / "edge", edge_port)
    tone = None
    try:
        doc = origin.create_space()
        tone = push_tone(doc["ingest_url"], 30)
        origin.wait_on_air(doc["id"])
        joined = httpx.post(f"{edge.url}/api/spaces/{doc['id']}/join", json={}, timeout=10)
        media = joined.json()["playlist_url"].rsplit("/", 1)[0] + "/media.m3u8"
        base = media.rsplit("/", 1)[0]
        with httpx.Client(timeout=15) as client:
            pl = parse_playlist(client.get(media).text)
            uri = pl.parts[0][2]
            seg_uri = pl.segments[0][1]
            for path in (uri, seg_uri, "init.mp4"):  # fill the cache once
                assert client.get(f"{base}/{path}").status_code == 200
            fetched = origin_metrics(origin)["counters"]["media_ok"]
            files = cache_files(edge.prefix)
            for path in (uri, seg_uri, "init.mp4"):
                for _ in range(15):
                    r = client.get(f"{base}/{path}?r={secrets.token_hex(8)}&_HLS_msn=1",
                                   headers={"X-Cache-Debug": "1"})
                    assert r.status_code == 200 and r.headers["x-cache"] == "HIT", path
            assert origin_metrics(origin)["counters"]["media_ok"] == fetched
            assert cache_files(edge.prefix) == files
            # playlists: random queries share one entry with the bare playlist
            client.get(media)
            files = cache_files(edge.prefix)
            for _ in range(30):
                assert client.get(f"{media}?cb={secrets.token_hex(8)}").status_code == 200
            assert cache_files(edge.prefix) <= files + 1
            # the HLS directives still work, junk alongside them is dropped
            last = parse_playlist(client.get(media).text).parts[-1]
            nxt = (last[0], last[1] + 1)
            r = client.get(media, params={"_HLS_msn": nxt[0], "_HLS_part": nxt[1],
                                          "junk": secrets.token_hex(4)})
            assert r.status_code == 200
            newest = parse_playlist(r.text).parts[-1]
            assert (newest[0], newest[1]) > (last[0], last[1])  # it blocked until then
    finally:
        if tone is not None:
            stop_process(tone)
        edge.stop()
        stop_server(origin)

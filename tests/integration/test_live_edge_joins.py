"""Through a real nginx edge: the playlist a player joins with is fresh (not the up-to-3-s-old
copy stale-while-revalidate allowed), playlists are served compressed from the origin's one
compression per publication and cached per encoding, and delta updates pass the edge."""

from __future__ import annotations

import gzip
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from harness.edge import Edge, origin_behind_edge
from harness.server import Server, push_tone, stop_process

pytestmark = [pytest.mark.slow, pytest.mark.timing]
HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part/(\d+)\.(\d+)\.m4s')
PPS = 7  # parts per segment (the default)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Server, Edge]]:
    with origin_behind_edge(tmp_path, public=True) as pair:
        yield pair


def hint_number(text: str) -> int:
    m = HINT.search(text)
    assert m, text
    return int(m[1]) * PPS + int(m[2])


def test_the_joining_playlist_through_the_edge_is_at_the_live_edge(
        deployment: tuple[Server, Edge]) -> None:
    origin, edge = deployment
    doc = origin.create_space()
    tone = push_tone(doc["ingest_url"], 40)
    try:
        origin.wait_on_air(doc["id"], timeout=30)
        path = urlsplit(origin.media_base(doc["id"])).path + "/media.m3u8"
        behind = []
        with httpx.Client(timeout=10) as c:
            for _ in range(40):  # 4 s of joins, 0.1 s apart
                truth = hint_number(c.get(origin.base_url + path).text)
                via_edge = hint_number(c.get(edge.url + path).text)
                behind.append(truth - via_edge)
                time.sleep(0.1)
        # a joiner's playlist lags the origin's by at most the part being published now
        # (an edge may cache it 0.1 s): never the seconds that made players start far back
        assert max(behind) <= 1, behind
    finally:
        stop_process(tone)


def test_playlists_reach_players_compressed_and_delta_updates_pass_the_edge(
        deployment: tuple[Server, Edge]) -> None:
    origin, edge = deployment
    doc = origin.create_space()
    tone = push_tone(doc["ingest_url"], 40)
    try:
        origin.wait_on_air(doc["id"], timeout=30)
        base = edge.url + urlsplit(origin.media_base(doc["id"])).path
        with httpx.Client(timeout=20) as c:
            full = c.get(base + "/media.m3u8", headers={"Accept-Encoding": "identity"})
            assert "content-encoding" not in full.headers
            assert full.headers["vary"] == "Accept-Encoding"
            assert "CAN-SKIP-UNTIL=12" in full.text
            assert "stale-while-revalidate" not in full.headers["cache-control"]
            n = hint_number(full.text) + 1
            q = f"/media.m3u8?_HLS_msn={n // PPS}&_HLS_part={n % PPS}"
            # two clients with different Accept-Encoding strings: one origin fetch for both
            first = c.get(base + q, headers={"Accept-Encoding": "gzip, deflate, br"})
            again = c.get(base + q, headers={"Accept-Encoding": "deflate, gzip",
                                             "X-Cache-Debug": "1"})
            for r in (first, again):
                assert r.headers["content-encoding"] == "gzip"
                assert r.headers["vary"] == "Accept-Encoding"
            assert again.headers["x-cache"] == "HIT"
            assert first.content == again.content
            plain = c.get(base + q, headers={"Accept-Encoding": "identity"})
            assert "content-encoding" not in plain.headers
            refused = c.get(base + q, headers={"Accept-Encoding": "br, gzip;q=0"})
            assert "content-encoding" not in refused.headers
            assert gzip.decompress(_raw(c, base + q)) == \
                plain.content
            assert len(_raw(c, base + q)) * 3 < len(plain.content)

            # delta updates, once the window is longer than the skip boundary (12 s)
            deadline = time.monotonic() + 30
            while True:
                n = hint_number(c.get(base + "/media.m3u8").text)
                delta = c.get(base + f"/media.m3u8?_HLS_msn={n // PPS}&_HLS_part={n % PPS}"
                              "&_HLS_skip=YES")
                assert delta.status_code == 200
                if "#EXT-X-SKIP:SKIPPED-SEGMENTS=" in delta.text or \
                        time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=" in delta.text, delta.text
            assert c.get(base + "/media.m3u8?_HLS_skip=no").status_code == 400
            details = c.get(f"{edge.url}/api/spaces/{doc['id']}",
                            headers={"Accept-Encoding": "gzip"})
            assert details.headers["content-encoding"] == "gzip"  # gzipped by the edge
            assert details.json()["id"] == doc["id"]
    finally:
        stop_process(tone)


def _raw(c: httpx.Client, url: str) -> bytes:
    """The body as it crossed the wire (not decompressed)."""
    with c.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as r:
        assert r.headers["content-encoding"] == "gzip"
        return b"".join(r.iter_raw())

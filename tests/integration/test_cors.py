"""CORS end to end: a page on another site reads details and media and joins, through the
origin and through a real nginx edge; host calls stay closed to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.edge import Edge, origin_behind_edge
from harness.server import Server, push_tone, stop_process

pytestmark = pytest.mark.slow
SITE = "https://news.example"


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Server, Edge]]:
    with origin_behind_edge(tmp_path) as pair:
        yield pair


def test_another_site_reads_details_and_media_and_joins_but_cannot_end(
        deployment: tuple[Server, Edge]) -> None:
    origin, edge = deployment
    doc = origin.create_space()
    push = push_tone(doc["ingest_url"], 8, 440)
    try:
        origin.wait_on_air(doc["id"], 20)
        for base in (origin.base_url, edge.url):
            pre = httpx.options(f"{base}/api/spaces/{doc['id']}/join", headers={
                "Origin": SITE, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type"}, timeout=10)
            assert pre.status_code in (200, 204), (base, pre.text)
            assert pre.headers["access-control-allow-origin"] == "*"
            assert "POST" in pre.headers["access-control-allow-methods"]
            join = httpx.post(f"{base}/api/spaces/{doc['id']}/join", json={},
                              headers={"Origin": SITE}, timeout=10)
            assert join.headers["access-control-allow-origin"] == "*", base
            details = httpx.get(f"{base}/api/spaces/{doc['id']}", headers={"Origin": SITE})
            assert details.headers["access-control-allow-origin"] == "*", base
            media = join.json()["playlist_url"].rsplit("/", 1)[0]
            if base == edge.url:
                media = media.replace(origin.base_url, edge.url)
            for _ in range(2):  # the second from the edge's cache: still one header
                r = httpx.get(f"{media}/media.m3u8", headers={"Origin": SITE}, timeout=10)
                assert r.status_code == 200
                assert r.headers.get_list("access-control-allow-origin") == ["*"], base
            host_pre = httpx.options(f"{base}/api/spaces/{doc['id']}/end", headers={
                "Origin": SITE, "Access-Control-Request-Method": "POST"}, timeout=10)
            assert "access-control-allow-origin" not in host_pre.headers, base
    finally:
        stop_process(push)

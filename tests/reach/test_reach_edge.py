"""Behind a real nginx edge: each oEmbed URL gets its own answer (the edge keys pages by path,
so the answer must not be shared), the embed keeps its frame-ancestors, the feed is cached
and revalidates (304)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harness.edge import origin_behind_edge

pytestmark = pytest.mark.slow


def test_oembed_embed_and_feed_through_the_edge(tmp_path: Path) -> None:
    with origin_behind_edge(tmp_path, "--set", "shed_lag_scale=20", public=True) as (
            origin, edge):
        docs = [origin.create_space(title=f"Talk {n}") for n in range(2)]
        for _ in range(2):
            for doc in docs:
                res = httpx.get(f"{edge.url}/oembed", timeout=10,
                                params={"url": f"{edge.url}/spaces/{doc['id']}"})
                assert res.status_code == 200, res.text
                assert res.json()["title"] == doc["title"]
        embed = httpx.get(f"{edge.url}/embed/{docs[0]['id']}", timeout=10)
        assert embed.status_code == 200
        assert embed.headers["content-security-policy"] == "frame-ancestors *"
        assert "x-frame-options" not in embed.headers
        feed = httpx.get(f"{edge.url}/feeds/all.xml", timeout=30)
        assert feed.status_code == 200 and b"Talk 1" in feed.content
        again = httpx.get(f"{edge.url}/feeds/all.xml", timeout=30,
                          headers={"If-None-Match": feed.headers["etag"]})
        assert again.status_code == 304

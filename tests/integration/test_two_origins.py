"""Two origins behind one edge: each space is created on some origin, and everything about
it (details, join, media, host calls, end, replay) reaches that origin through the edge."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.edge_helpers import origin_metrics, start_edge_over
from tests.helpers import Server, free_port, push_tone, start_server, stop_server
from tests.rawhttp import request

pytestmark = pytest.mark.slow


def test_every_request_of_a_space_reaches_the_origin_that_owns_it(tmp_path: Path) -> None:
    edge_port = free_port()
    public = ("--public-url", f"http://127.0.0.1:{edge_port}")
    a = start_server(tmp_path / "a", "--origin-tag", "a", *public)
    (tmp_path / "b").mkdir()
    for shared in ("ticket.secret", "secret.key", "admin.key"):  # the origins share secrets
        shutil.copy(tmp_path / "a" / shared, tmp_path / "b" / shared)
    b = start_server(tmp_path / "b", "--origin-tag", "b", *public)
    origins: dict[str, Server] = {"a": a, "b": b}
    edge = start_edge_over(origins, tmp_path / "edge", edge_port)
    pushes = []
    try:
        created: dict[str, dict[str, Any]] = {}
        for _ in range(8):  # creates go to any origin: until each has a space
            res = httpx.post(f"{edge.url}/api/spaces", json={"title": "t", "host": "h"},
                             timeout=10, headers=a.hosting_headers())
            assert res.status_code == 201, res.text
            doc = res.json()
            created.setdefault(doc["id"][0], doc)
            if len(created) == 2:
                break
        assert set(created) == {"a", "b"}, "the edge sent every create to one origin"
        for tag, doc in created.items():
            owner = origins[tag]
            assert doc["page_url"].startswith(edge.url)
            pushes.append(push_tone(doc["ingest_url"], 12, 440))
            owner.wait_on_air(doc["id"], timeout=20)
            details = httpx.get(f"{edge.url}/api/spaces/{doc['id']}", timeout=10)
            assert details.status_code == 200 and details.json()["state"] == "live"
            joined = httpx.post(f"{edge.url}/api/spaces/{doc['id']}/join", json={}, timeout=10)
            assert joined.status_code == 200, joined.text
            playlist = httpx.get(joined.json()["playlist_url"], timeout=10)
            assert playlist.status_code == 200 and "#EXTM3U" in playlist.text
            host = httpx.get(f"{edge.url}/api/spaces/{doc['id']}/host", timeout=10,
                             headers={"Authorization": f"Bearer {doc['host_key']}"})
            assert host.status_code == 200, host.text
            reaction = httpx.post(f"{edge.url}/api/spaces/{doc['id']}/reactions",
                                  json={"emoji": "👏"}, timeout=10)
            assert reaction.status_code == 202, reaction.text
        for tag, doc in created.items():
            time.sleep(1.0)
            end = httpx.post(f"{edge.url}/api/spaces/{doc['id']}/end", timeout=30,
                             headers={"Authorization": f"Bearer {doc['host_key']}"})
            assert end.status_code == 200, end.text
            replay = httpx.get(f"{edge.url}/replay/{doc['id']}.m4a", timeout=30)
            assert replay.status_code == 200 and len(replay.content) > 10_000
            page = httpx.get(f"{edge.url}/spaces/{doc['id']}", timeout=10)
            assert page.status_code == 200
            # and the other origin never heard of it
            other = origins["b" if tag == "a" else "a"]
            assert httpx.get(f"{other.base_url}/api/spaces/{doc['id']}",
                             timeout=10).status_code == 404
    finally:
        for p in pushes:
            p.kill()
            p.wait(10)
        edge.stop()
        stop_server(a)
        stop_server(b)


def test_joins_with_a_grant_spread_over_both_origins_and_the_home_counts_them_all(
        tmp_path: Path) -> None:
    edge_port = free_port()
    public = ("--public-url", f"http://127.0.0.1:{edge_port}")
    a = start_server(tmp_path / "a", "--origin-tag", "a", *public)
    (tmp_path / "b").mkdir()
    for shared in ("ticket.secret", "secret.key"):
        shutil.copy(tmp_path / "a" / shared, tmp_path / "b" / shared)
    b = start_server(tmp_path / "b", "--origin-tag", "b", *public)
    edge = start_edge_over({"a": a, "b": b}, tmp_path / "edge", edge_port)
    push = None
    try:
        doc = a.create_space()  # made on a: its id begins with a, the edge routes it there
        assert doc["id"].startswith("a")
        push = push_tone(doc["ingest_url"], 20, 440)
        a.wait_on_air(doc["id"], timeout=20)
        grant = httpx.get(f"{edge.url}/api/spaces/{doc['id']}", timeout=10).json()["join_grant"]

        async def admit_all() -> list[Any]:
            out = []
            for i in range(12):  # from distinct addresses, as listeners would come
                r = await request("POST", "127.0.0.1", edge_port, f"/api/admit/{doc['id']}",
                                  source=f"127.78.0.{i + 1}", body={"grant": grant})
                assert r.status == 200, r.body
                out.append(r.json())
            return out

        tickets = asyncio.run(admit_all())
        served = {tag: origin_metrics(o)["counters"]["admitted_anywhere"]
                  for tag, o in (("a", a), ("b", b))}
        assert served["a"] > 0 and served["b"] > 0 and sum(served.values()) == 12, served
        for t in tickets[:4]:  # tickets from either origin play through the edge
            playlist = httpx.get(t["playlist_url"].replace("master.m3u8", "media.m3u8"),
                                 timeout=10)
            assert playlist.status_code == 200 and "#EXT-X-PART" in playlist.text
        deadline = time.monotonic() + 10  # b reports its seats to a through the edge
        while True:
            now = httpx.get(f"{edge.url}/api/spaces/{doc['id']}", timeout=10).json()
            if now["listeners"]["now"] == 12:
                break
            assert time.monotonic() < deadline, now["listeners"]
            time.sleep(0.5)
    finally:
        if push is not None:
            push.kill()
            push.wait(10)
        edge.stop()
        stop_server(a)
        stop_server(b)

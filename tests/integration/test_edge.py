"""A real nginx edge in front of a real origin: tickets checked at the edge, one origin fetch
per object, and the details page answering while the origin is down."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.edge import Edge, origin_behind_edge, origin_metrics
from harness.hls_client import Follower
from harness.server import Server, push_tone, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Server, Edge]]:
    with origin_behind_edge(tmp_path, public=True) as pair:
        yield pair


def test_forged_and_ticketless_media_die_at_the_edge(deployment: tuple[Server, Edge]) -> None:
    origin, edge = deployment
    doc = origin.create_space()
    p = push_tone(doc["ingest_url"], 4)
    try:
        sid = doc["id"]
        # (/live/ID/master.m3u8 is the entry URL: a join, see test_player_tickets.py)
        for path in (f"/live/{sid}/media.m3u8", f"/live/{sid}/init.mp4",
                     f"/live/{sid}/t/abc.9999999999.AAAAAAAAAAAAAAAAAAAAAA/media.m3u8",
                     f"/live/{sid}/t/garbage/media.m3u8", "/live/../etc/passwd"):
            r = httpx.get(edge.url + path, timeout=10)
            assert r.status_code in (403, 400, 404), path
            if r.status_code == 403:
                assert r.json()["error"] == "bad_ticket"
        counters = origin_metrics(origin)["counters"]
        assert counters["media_forged"] == 0 and counters["media_ticketless"] == 0
    finally:
        p.wait(30)


def test_edge_collapses_many_listeners_into_few_origin_fetches(
        deployment: tuple[Server, Edge]) -> None:
    origin, edge = deployment
    doc = origin.create_space()
    p = push_tone(doc["ingest_url"], 8)

    async def listeners(n: int) -> list[Follower]:
        async with httpx.AsyncClient(timeout=20, limits=httpx.Limits(max_connections=200)) as c:
            # wait until live, then all join through the edge and follow for a while
            for _ in range(100):
                r = await c.post(f"{edge.url}/api/spaces/{doc['id']}/join")
                if r.status_code == 200 and (await c.get(
                        r.json()["playlist_url"].replace("master", "media"))).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            followers = []
            clients = []
            for i in range(n):  # each listener from its own address, as in the real world
                own = httpx.AsyncClient(timeout=20, transport=httpx.AsyncHTTPTransport(
                    local_address=f"127.0.1.{i + 1}"))
                clients.append(own)
                r = await own.post(f"{edge.url}/api/spaces/{doc['id']}/join")
                assert r.status_code == 200, r.text
                followers.append(Follower(r.json()["playlist_url"].replace("master", "media"),
                                          own))

            async def follow(f: Follower) -> None:
                with contextlib.suppress(TimeoutError):  # followed for the whole window
                    await f.run(deadline_s=4)

            try:
                await asyncio.gather(*(follow(f) for f in followers))
            finally:
                for own in clients:
                    await own.aclose()
            return followers

    try:
        followers = asyncio.run(listeners(30))
    finally:
        p.wait(30)
    parts_fetched = sum(len(f.parts) for f in followers)
    assert parts_fetched >= 30 * 5
    reached_origin = origin_metrics(origin)["counters"]["media_ok"]
    # each object reaches the origin about once (plus playlists), not once per listener
    assert reached_origin < parts_fetched / 5, (reached_origin, parts_fetched)


def test_details_keep_answering_from_the_edge_when_the_origin_dies(
        deployment: tuple[Server, Edge]) -> None:
    origin, edge = deployment
    doc = origin.create_space(title="Still here")
    url = f"{edge.url}/api/spaces/{doc['id']}"
    assert httpx.get(url, timeout=10).json()["title"] == "Still here"
    page = httpx.get(f"{edge.url}/spaces/{doc['id']}", timeout=10)
    assert page.status_code == 200
    stop_server(origin)
    for _ in range(10):
        r = httpx.get(url, timeout=10)
        assert r.status_code == 200 and r.json()["title"] == "Still here"
        assert httpx.get(f"{edge.url}/spaces/{doc['id']}", timeout=10).status_code == 200
    assert httpx.get(f"{edge.url}/static/space.js", timeout=10).status_code in (200, 503)

"""Two origins in a cluster (one Redis, one database) behind one edge: any origin answers
anything about any space, the list is the cluster's, and listener counts are shared."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.cluster import cluster, wait_for
from harness.edge import origin_metrics, start_edge_over
from harness.rawhttp import request
from harness.server import free_port, push_tone
from townhall.recording.frames import progressive_frames

pytestmark = pytest.mark.slow


def test_any_origin_answers_every_request_of_any_space(tmp_path: Path, pg_url: str) -> None:
    edge_port = free_port()
    with cluster(tmp_path, 2, edge_port, database=pg_url) as c:
        a, b = c.origins
        edge = start_edge_over({"": a, "x": b}, tmp_path / "edge", edge_port)
        push = None
        try:
            doc = a.create_space()
            sid = doc["id"]
            made_on_b = b.create_space(title="on b")
            for origin in (a, b):  # the list is the cluster's, on either origin
                wait_for(lambda o=origin: {sid, made_on_b["id"]} <= {
                    s["id"] for s in httpx.get(f"{o.base_url}/api/spaces").json()["spaces"]},
                    10, "the cluster-wide list")
            push = push_tone(doc["ingest_url"], 40, 440)
            a.wait_on_air(sid, timeout=20)
            for origin in (a, b):  # details, joins, media and host calls on both origins
                wait_for(lambda o=origin: o.details(sid)["on_air"], 10, "on air everywhere")
                base = origin.media_base(sid).replace(c.public_url, origin.base_url)
                playlist = httpx.get(f"{base}/media.m3u8", timeout=10)
                assert playlist.status_code == 200 and "#EXT-X-PART" in playlist.text
                host = httpx.get(f"{origin.base_url}/api/spaces/{sid}/host", timeout=10,
                                 headers={"Authorization": f"Bearer {doc['host_key']}"})
                assert host.status_code == 200, host.text
            joined = httpx.post(f"{edge.url}/api/spaces/{sid}/join", json={}, timeout=10)
            assert joined.status_code == 200, joined.text
            assert httpx.get(joined.json()["playlist_url"], timeout=10).status_code == 200
            time.sleep(1.0)
            end = b.end_space(doc)  # the end is asked of the origin without the program
            assert end.status_code == 200, end.text
            assert end.json()["state"] == "ended"
            for origin in (a, b):  # and either origin serves the whole replay
                wait_for(lambda o=origin: httpx.get(
                    f"{o.base_url}/replay/{sid}.m4a", timeout=10).status_code == 200,
                    10, "the replay everywhere")
            replays = [httpx.get(f"{o.base_url}/replay/{sid}.m4a", timeout=30)
                       for o in (a, b)]
            # signed once, kept in the shared store: the same bytes and ETag on every origin
            assert len(replays[0].content) > 10_000
            assert replays[0].content == replays[1].content
            assert replays[0].headers["etag"] == replays[1].headers["etag"]
            # so a download begun on one origin resumes on the other (If-Range holds)
            half = len(replays[0].content) // 2
            rest = httpx.get(f"{b.base_url}/replay/{sid}.m4a", timeout=30, headers={
                "Range": f"bytes={half}-", "If-Range": replays[0].headers["etag"]})
            assert rest.status_code == 206
            assert replays[0].content[:half] + rest.content == replays[0].content
            frames = progressive_frames(replays[0].content)[0]
            assert frames
        finally:
            if push is not None:
                push.kill()
                push.wait(10)
            edge.stop()


def test_joins_with_a_grant_spread_over_both_origins_and_both_count_them_all(
        tmp_path: Path) -> None:
    edge_port = free_port()
    with cluster(tmp_path, 2, edge_port) as c:
        a, b = c.origins
        edge = start_edge_over({"": a, "x": b}, tmp_path / "edge", edge_port)
        push = None
        try:
            doc = a.create_space()
            push = push_tone(doc["ingest_url"], 30, 440)
            a.wait_on_air(doc["id"], timeout=20)
            grant = a.details(doc["id"])["join_grant"]

            async def admit_all() -> list[Any]:
                out = []
                for i in range(12):  # from distinct addresses, as listeners would come
                    r = await request("POST", "127.0.0.1", edge_port,
                                      f"/api/admit/{doc['id']}", source=f"127.78.0.{i + 1}",
                                      body={"grant": grant})
                    assert r.status == 200, r.body
                    out.append(r.json())
                return out

            tickets = asyncio.run(admit_all())
            served = [origin_metrics(o)["counters"]["admitted_anywhere"] for o in (a, b)]
            assert served[0] > 0 and served[1] > 0 and sum(served) == 12, served
            for t in tickets[:4]:  # tickets from either origin play through the edge
                playlist = httpx.get(t["playlist_url"].replace("master.m3u8", "media.m3u8"),
                                     timeout=10)
                assert playlist.status_code == 200 and "#EXT-X-PART" in playlist.text
            for origin in (a, b):  # counts shared through Redis: both see all twelve
                wait_for(lambda o=origin: o.details(doc["id"])["listeners"]["now"] == 12,
                         10, "every listener counted on every origin")
        finally:
            if push is not None:
                push.kill()
                push.wait(10)
            edge.stop()

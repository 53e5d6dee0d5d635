"""Origins on a real PostgreSQL: the recording lives in the database, so an origin killed
mid-space loses nothing and any other origin seals and serves the replay; a PostgreSQL
restart answers creates and ends with 503 + Retry-After while live spaces go on."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from harness.hls_client import decode, parse_playlist
from harness.postgres import Postgres
from harness.server import Server, push_tone, start_server, stop_server
from tests.integration.test_live_space import tone_gaps
from townhall.recording.manifest import verify_chain
from townhall.settings import Settings
from townhall.store.factory import open_stores

pytestmark = pytest.mark.slow

# the machine running the tests is shared: a loaded CPU must not shed the details we poll
CALM = ("--set", "shed_lag_scale=8")


def heard_until_killed(srv: Server, doc: dict[str, object]) -> list[bytes]:
    """Listen until the open segment has a few parts out, then kill -9 the origin; what the
    listener got by then."""
    sid = str(doc["id"])
    srv.wait_on_air(sid, timeout=20)
    media = srv.media_base(sid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        live = parse_playlist(httpx.get(f"{media}/media.m3u8", timeout=10).text)
        done = max((msn for msn, _, _ in live.segments), default=-1)
        if 2 <= len([p for p in live.parts if p[0] > done]) < 6:
            break
        time.sleep(0.1)
    heard = [httpx.get(f"{media}/{uri}", timeout=10).content for _, _, uri, _ in live.parts]
    srv.process.kill()  # SIGKILL: no shutdown hooks, no flush
    srv.process.wait(10)
    return heard


def test_another_origin_seals_and_serves_the_replay_of_an_origin_killed_mid_space(
        tmp_path: Path, pg_url: str) -> None:
    a = start_server(tmp_path / "a", "--database", pg_url, "--migrate", *CALM)
    push = None
    try:
        doc = a.create_space()
        push = push_tone(doc["ingest_url"], 30, 1000)
        heard = heard_until_killed(a, doc)
    finally:
        if push is not None:
            push.kill()
            push.wait(10)
        stop_server(a)

    # another origin, with nothing of a's on its disk
    b = start_server(tmp_path / "b", "--database", pg_url, *CALM)
    try:
        assert b.end_space(doc).status_code == 200
        # the replay's published segments (the .m4a is a re-mux of them: test_live_space)
        base = f"{b.base_url}/replay/{doc['id']}"
        listed = parse_playlist(httpx.get(f"{base}/media.m3u8", timeout=30).text)
        replay = b"".join(httpx.get(f"{base}/{uri}", timeout=30).content
                          for _, uri, _ in listed.segments)
        pos = 0
        for part in heard:
            found = replay.find(part, pos)
            assert found >= 0, f"a part heard live is missing from the replay (at {pos})"
            pos = found + len(part)
        assert httpx.get(f"{base}.m4a", timeout=30).status_code == 200
        # b keeps no recording of its own: at most the download it built from the database
        kept = tmp_path / "b" / "recordings" / str(doc["id"])
        assert not kept.exists() or {f.name for f in kept.iterdir()} == {"replay.m4a"}
    finally:
        stop_server(b)

    settings = Settings.of(data_dir=tmp_path / "c", database_url=pg_url)
    stores = open_stores(settings)
    try:
        manifest = stores.recordings.manifest(str(doc["id"]))
        init = stores.recordings.init(str(doc["id"]))
        assert manifest is not None and manifest.complete and init is not None
        segments = [stores.recordings.segment(manifest.space_id, e) for e in manifest.segments]
        verify_chain(manifest, init, [s for s in segments if s is not None])
        assert manifest.verify_signature(bytes.fromhex(
            (tmp_path / "b" / "secret.key").read_text()))
    finally:
        stores.close()


def _restart(postgres: Postgres, down_s: float) -> None:
    postgres.stop()
    time.sleep(down_s)
    postgres.start()


def test_a_postgresql_restart_refuses_writes_with_503_while_the_live_space_goes_on(
        tmp_path: Path, postgres: Postgres, pg_url: str) -> None:
    srv = start_server(tmp_path / "d", "--database", pg_url, "--migrate",
                       *CALM)
    push = None
    try:
        assert httpx.get(f"{srv.base_url}/readyz", timeout=10).status_code == 200
        doc = srv.create_space()
        later = srv.create_space(title="Goes live after the outage")
        push = push_tone(doc["ingest_url"], 14, 1000)
        srv.wait_on_air(doc["id"], timeout=20)
        media = srv.media_base(doc["id"])
        before = parse_playlist(httpx.get(f"{media}/media.m3u8", timeout=10).text)

        postgres.stop()
        try:
            for _ in range(2):  # the first call finds it down, the next is refused at once
                t0 = time.monotonic()
                r = httpx.post(f"{srv.base_url}/api/spaces", json={"title": "x", "host": "y"},
                               headers=srv.hosting_headers(), timeout=30)
                assert r.status_code == 503, r.text
                assert r.json()["error"] == "store_unavailable" and r.headers["Retry-After"]
            assert time.monotonic() - t0 < 1.0  # refused at once, not after a timeout
            ended = httpx.post(f"{srv.base_url}/api/spaces/{doc['id']}/end", timeout=30,
                               headers={"Authorization": f"Bearer {doc['host_key']}"})
            assert ended.status_code == 503, ended.text
            source = httpx.put(f"http://127.0.0.1:{srv.ingest_port}/ingest/{later['id']}",
                               content=b"\xff\xf1" * 64, timeout=10,
                               headers={"Authorization": f"Bearer {later['host_key']}"})
            assert source.status_code == 503  # a new source retries, nothing half started
            assert source.json()["error"] == "store_unavailable"
            ready = httpx.get(f"{srv.base_url}/readyz", timeout=10)
            assert ready.status_code == 503 and ready.headers["Retry-After"]
            assert httpx.get(f"{srv.base_url}/healthz", timeout=10).status_code == 200
            time.sleep(2.5)  # the live space goes on: new segments, heard and recorded later
            during = parse_playlist(httpx.get(f"{media}/media.m3u8", timeout=10).text)
            assert during.segments[-1][0] > before.segments[-1][0]
            heard = [httpx.get(f"{media}/{uri}", timeout=10).content
                     for msn, uri, _ in during.segments if msn > before.segments[-1][0]]
            assert srv.details(doc["id"])["state"] == "live"
        finally:
            postgres.start()

        deadline = time.monotonic() + 20  # back by itself
        while httpx.get(f"{srv.base_url}/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the origin did not reconnect by itself"
            time.sleep(0.2)
        assert push.wait(30) == 0
        time.sleep(1.0)
        assert srv.end_space(doc).status_code == 200
        replay = httpx.get(f"{srv.base_url}/replay/{doc['id']}.m4a", timeout=30).content
        pcm, rate = decode(replay)
        length, gap = tone_gaps(pcm, rate, 1000)
        assert length >= 12.0 and gap < 0.5  # the tone through the outage (a segment: 2.24 s)
        assert heard
        base = f"{srv.base_url}/replay/{doc['id']}"  # the published segments, as stored
        listed = parse_playlist(httpx.get(f"{base}/media.m3u8", timeout=30).text)
        stored = b"".join(httpx.get(f"{base}/{uri}", timeout=30).content
                          for _, uri, _ in listed.segments)
        for segment in heard:  # what went out during the outage is in the replay, as heard
            assert stored.find(segment) >= 0
        again = srv.create_space()  # and creates work again
        assert again["id"] != doc["id"]
        metrics = httpx.get(f"{srv.base_url}/metrics", timeout=10,
                            headers=srv.hosting_headers()).text
        assert "townhall_store_unavailable_total" in metrics
    finally:
        if push is not None:
            push.kill()
            push.wait(10)
        stop_server(srv)
        if not postgres.running():
            postgres.start()

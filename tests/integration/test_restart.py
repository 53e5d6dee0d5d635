"""The origin restarts mid-space: the space resumes after a discontinuity, and the replay
holds everything published before and after (one hash chain across the restart)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from harness.hls_client import access_units, decode, parse_playlist
from harness.server import push_tone, start_server, stop_server
from tests.integration.test_live_space import tone_gaps
from townhall.recording.manifest import RecordingManifest, verify_chain
from townhall.store.recording_files import FileRecordings

pytestmark = pytest.mark.slow


def test_space_resumes_after_an_origin_restart_without_losing_what_was_published(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        doc = srv.create_space()
        assert push_tone(doc["ingest_url"], 4, 1000).wait(30) == 0
        time.sleep(0.5)
    finally:
        stop_server(srv)
    rec = data / "recordings" / doc["id"]
    # unsealed while live: the entries appended so far (store/recording_files.py)
    before = FileRecordings(data / "recordings").manifest(doc["id"])
    assert before is not None and len(before.segments) >= 1

    srv = start_server(data)
    try:
        assert srv.details(doc["id"])["state"] == "live"
        # the restarted process listens on new ports in this test; the key and path hold
        old_port = doc["ingest_url"].rsplit(":", 1)[1].split("/", 1)[0]
        url = doc["ingest_url"].replace(f":{old_port}/", f":{srv.ingest_port}/")
        push = push_tone(url, 4, 700)
        assert push.wait(30) == 0
        media = srv.media_base(doc["id"])
        live = parse_playlist(httpx.get(f"{media}/media.m3u8", timeout=10).text)
        assert live.discontinuities, live.text
        assert live.media_sequence > before.segments[-1].msn  # numbering continues
        assert srv.end_space(doc).status_code == 200
        replay = httpx.get(f"{srv.base_url}/replay/{doc['id']}.m4a", timeout=30).content
        pcm, rate = decode(replay)
        assert tone_gaps(pcm, rate, 1000)[0] >= 3.0  # published before the restart
        assert tone_gaps(pcm, rate, 700)[0] >= 3.0  # and after it
        after = RecordingManifest.from_dict(json.loads((rec / "manifest.json").read_text()))
        assert after.segments[: len(before.segments)] == before.segments
        verify_chain(after, (rec / "init.mp4").read_bytes(),
                     [(rec / e.file).read_bytes() for e in after.segments])
        assert any(e.discontinuity for e in after.segments[len(before.segments):])
    finally:
        stop_server(srv)


def test_a_hard_crash_loses_no_part_that_listeners_heard(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    push = None
    try:
        doc = srv.create_space()
        push = push_tone(doc["ingest_url"], 30, 1000)
        srv.wait_on_air(doc["id"], timeout=20)
        media = srv.media_base(doc["id"])
        open_parts: list[tuple[int, int, str, float]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the open segment has a few parts out
            live = parse_playlist(httpx.get(f"{media}/media.m3u8", timeout=10).text)
            done = max((msn for msn, _, _ in live.segments), default=-1)
            open_parts = [p for p in live.parts if p[0] > done]
            if 2 <= len(open_parts) < 6:
                break
            time.sleep(0.1)
        heard = [httpx.get(f"{media}/{uri}", timeout=10).content for _, _, uri, _ in live.parts]
        srv.process.kill()  # SIGKILL: no shutdown hooks, no flush
        srv.process.wait(10)
    finally:
        if push is not None:
            push.kill()
            push.wait(10)
        stop_server(srv)
    assert len(open_parts) >= 2, live.text  # the crash came inside a segment

    srv = start_server(data)
    try:
        # ended after the crash without airing again: the replay still has every part heard
        assert srv.end_space(doc).status_code == 200
        assert srv.details(doc["id"])["replay_url"]
        replay = httpx.get(f"{srv.base_url}/replay/{doc['id']}.m4a", timeout=30).content
        rec = data / "recordings" / doc["id"]
        manifest = RecordingManifest.from_dict(json.loads((rec / "manifest.json").read_text()))
        assert manifest.complete
        recorded = b"".join((rec / e.file).read_bytes() for e in manifest.segments)
        pos = 0
        for part in heard:  # the recorded segments hold every part heard, byte for byte
            found = recorded.find(part, pos)
            assert found >= 0, f"a part heard live is missing from the replay (at {pos})"
            pos = found + len(part)
        # and the download (re-muxed) carries their access units, in order
        init = (rec / "init.mp4").read_bytes()
        heard_units = [u for part in heard for u in access_units(init + part)]
        units = access_units(replay)
        assert any(units[i:i + len(heard_units)] == heard_units
                   for i in range(len(units) - len(heard_units) + 1))
        verify_chain(manifest, (rec / "init.mp4").read_bytes(),
                     [(rec / e.file).read_bytes() for e in manifest.segments])
    finally:
        stop_server(srv)

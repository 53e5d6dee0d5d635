"""Durable work never waits behind untrusted work: during a flood of fast pushers (each one
parks a decoder feed for as long as it runs ahead), the recorder's journal keeps up with what
listeners hear, so a kill -9 of the origin in the middle of it loses no part anyone heard.

Before the recorder had its own writer thread, the fast pushers' feeds filled the loop's
default pool (min(32, CPUs + 4) threads) that the journal writes waited for: `end` took
10-13 s and a crash lost 1.9 s that listeners had heard."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from harness.hls_client import parse_playlist
from harness.server import start_server, stop_process, stop_server
from townhall.recording.manifest import RecordingManifest, verify_chain

pytestmark = pytest.mark.slow


def big_upload(path: Path, seconds: int) -> Path:
    """An MP3 larger than a decoder's queue (ingest_max_queue_bytes), so its feeds park."""
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"sine=frequency=1000:duration={seconds}", "-c:a", "libmp3lame", "-b:a",
                    "320k", str(path)], check=True)
    return path


def fast_push(port: int, doc: dict[str, str], upload: Path) -> subprocess.Popen[bytes]:
    """curl -T: the whole file as fast as the origin reads it (paced only by backpressure)."""
    return subprocess.Popen(
        ["curl", "-sS", "-T", str(upload), "-u", f"source:{doc['host_key']}",
         "-H", "Content-Type: audio/mpeg", f"http://127.0.0.1:{port}/ingest/{doc['id']}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_kill_during_a_flood_of_fast_pushers_loses_no_part_a_listener_heard(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    upload = big_upload(tmp_path / "talk.mp3", 120)  # 4.8 MB: past the 2 MB decoder queue
    # as many fast pushers as the default pool has threads (what filled it before)
    flood = min(32, (os.cpu_count() or 1) + 4)
    srv = start_server(data, "--attack-mode", "off",
                       "--set", f"live_programs_per_origin={flood + 2}")
    pushers: list[subprocess.Popen[bytes]] = []
    try:
        docs = [srv.create_space(title=f"flood {i}") for i in range(flood)]
        pushers = [fast_push(srv.ingest_port, doc, upload) for doc in docs]
        doc = docs[0]  # the listened space is one of the fast pushers
        srv.wait_on_air(doc["id"], timeout=40)
        media = srv.media_base(doc["id"])
        heard: dict[str, bytes] = {}
        order: list[str] = []
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:  # a listener fetches every part as it appears
            live = parse_playlist(httpx.get(f"{media}/media.m3u8", timeout=10).text)
            for _, _, uri, _ in live.parts:
                if uri not in heard:
                    heard[uri] = httpx.get(f"{media}/{uri}", timeout=10).content
                    order.append(uri)
            time.sleep(0.05)
        srv.process.kill()  # SIGKILL in the middle of the flood: no shutdown hooks, no flush
        srv.process.wait(10)
    finally:
        for push in pushers:
            stop_process(push)
        stop_server(srv)
    assert len(order) >= 10, "the listener heard too little to tell"

    srv = start_server(data, "--attack-mode", "off")
    try:
        assert srv.end_space(doc).status_code == 200
        rec = data / "recordings" / doc["id"]
        manifest = RecordingManifest.from_dict(json.loads((rec / "manifest.json").read_text()))
        recorded = b"".join((rec / e.file).read_bytes() for e in manifest.segments)
        pos, missing = 0, []
        for uri in order:  # every part heard is in the replay, byte for byte, in order
            found = recorded.find(heard[uri], pos)
            if found < 0:
                missing.append(uri)
                continue
            pos = found + len(heard[uri])
        assert not missing, f"{len(missing)} of {len(order)} parts heard are not in the " \
                            f"replay: {missing[:5]}"
        verify_chain(manifest, (rec / "init.mp4").read_bytes(),
                     [(rec / e.file).read_bytes() for e in manifest.segments])
    finally:
        stop_server(srv)

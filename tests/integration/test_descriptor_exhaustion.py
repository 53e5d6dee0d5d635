"""Under a low descriptor limit, floods of idle connections turn into fast 503s and the
recording of a live space stays complete."""

from __future__ import annotations

import resource
import socket
import time
from pathlib import Path

import httpx
import pytest

from harness.hls_client import decode
from harness.server import push_tone, start_server, stop_process, stop_server

LIMIT = 256


@pytest.mark.slow
def test_idle_connection_floods_get_fast_503s_and_the_replay_is_complete(
        tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    server = start_server(tmp_path / "data", "--attack-mode", "off",
                          wrapper=("prlimit", f"--nofile={LIMIT}:{LIMIT}"))
    held: list[socket.socket] = []
    tone = None
    try:
        assert f"open files: {LIMIT}" in server.log()
        doc = server.create_space(title="exhausted")
        tone = push_tone(doc["ingest_url"], 14)
        server.wait_on_air(doc["id"])
        port = int(server.base_url.rsplit(":", 1)[1])
        for target in [port] * 600 + [server.ingest_port] * 300:  # far past the table
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", target))
            except OSError:
                s.close()
                continue
            held.append(s)
        # a new request is answered at once (503 or 200), never left hanging
        t0 = time.monotonic()
        try:
            status = httpx.get(f"{server.base_url}/api/spaces/{doc['id']}", timeout=5).status_code
        except httpx.TransportError:  # closed at once by the cap: also a fast answer
            status = 0
        assert time.monotonic() - t0 < 5 and status in (0, 200, 503)
        time.sleep(6)  # the space stays live, its segments written, while the flood holds
        for s in held:
            s.close()
        held.clear()
        tone.wait(30)
        ended = server.end_space(doc)
        assert ended.status_code == 200, ended.text
        details = server.details(doc["id"])
        replay = httpx.get(details["replay_download_url"], timeout=30)
        assert replay.status_code == 200
        manifest = httpx.get(f"{server.base_url}/replay/{doc['id']}/manifest.json",
                             timeout=10).json()
        recordings = server.data_dir / "recordings" / doc["id"]
        segments = manifest["segments"]
        assert segments and all((recordings / s["file"]).exists() for s in segments)
        assert [s["msn"] for s in segments] == list(range(len(segments)))
        pcm, rate = decode(replay.content)
        assert len(pcm) / rate >= 12.0  # the whole 14 s push (less the start-up)
        assert "failed" not in server.log().lower() or "writes succeed again" in server.log()
    finally:
        for s in held:
            s.close()
        if tone is not None:
            stop_process(tone)
        stop_server(server)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

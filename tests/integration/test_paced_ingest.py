"""Push sources that run ahead of real time are paced by backpressure, never trimmed.

Real `curl -T` uploads a 25 s file as fast as the network allows, and a raw socket sends
1 s of audio in one burst every second: both must be heard live, and in the replay, for as
long as they sent (silence detection within 0.5 s), with nothing dropped.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.hls_client import Follower, decode
from harness.server import Server
from tests.audibility import audibility
from tests.integration.test_live_space import wait_live

pytestmark = pytest.mark.slow


def tone_file(path: Path, seconds: float, freq: int, codec: str, fmt: str) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"sine=frequency={freq}:duration={seconds}", "-c:a", codec, "-f", fmt,
                    str(path)], check=True)
    return path


def push_in_bursts(port: int, space_id: str, key: str, data: bytes, seconds: float,
                   burst_s: float) -> dict[str, Any]:
    """An Icecast-style PUT (body until the close) that sends `burst_s` of audio at once,
    then nothing for `burst_s`."""
    per_burst = max(1, round(len(data) * burst_s / seconds))
    auth = base64.b64encode(f"source:{key}".encode()).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(f"PUT /ingest/{space_id} HTTP/1.1\r\nHost: t\r\nAuthorization: Basic "
                     f"{auth}\r\nContent-Type: audio/aac\r\n\r\n".encode())
        start = time.monotonic()
        for i, at in enumerate(range(0, len(data), per_burst)):
            time.sleep(max(0.0, start + i * burst_s - time.monotonic()))
            sock.sendall(data[at:at + per_burst])
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer
    out: dict[str, Any] = json.loads(body)
    return out


def test_unpaced_upload_and_one_second_bursts_are_heard_whole_live_and_in_the_replay(
        server: Server, tmp_path: Path) -> None:
    upload = tone_file(tmp_path / "talk.mp3", 25, 1000, "libmp3lame", "mp3")
    bursty = tone_file(tmp_path / "bursty.aac", 15, 700, "aac", "adts").read_bytes()
    curl_doc = server.create_space(title="curl -T")
    burst_doc = server.create_space(title="bursts")

    curl_started = time.monotonic()
    curl = subprocess.Popen(
        ["curl", "-sS", "-T", str(upload), "-u", f"source:{curl_doc['host_key']}",
         "-H", "Content-Type: audio/mpeg",
         f"http://127.0.0.1:{server.ingest_port}/ingest/{curl_doc['id']}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    async def follow(doc: dict[str, Any], source_done: Any) -> Follower:
        async with httpx.AsyncClient(timeout=30) as client:
            follower = Follower(await wait_live(client, server, doc["id"], 30), client)

            async def end_after_source() -> None:
                await source_done()
                await asyncio.sleep(1.0)
                assert server.end_space(doc).status_code == 200

            ender = asyncio.create_task(end_after_source())
            await follower.run(deadline_s=90)
            await ender
            return follower

    results: dict[str, Any] = {}

    async def curl_done() -> None:
        out, err = await asyncio.to_thread(curl.communicate, timeout=90)
        results["curl"] = (curl.returncode, out, err, time.monotonic() - curl_started)

    async def scenario() -> tuple[Follower, Follower]:
        pusher = asyncio.create_task(asyncio.to_thread(
            push_in_bursts, server.ingest_port, burst_doc["id"], burst_doc["host_key"],
            bursty, 15, 1.0))

        async def bursts_done() -> None:
            results["bursts"] = await pusher

        try:
            return await asyncio.gather(follow(curl_doc, curl_done),
                                        follow(burst_doc, bursts_done))
        finally:
            if curl.poll() is None:
                curl.kill()
                curl.wait(5)

    curl_follower, burst_follower = asyncio.run(scenario())

    code, out, err, took = results["curl"]
    assert code == 0, err
    answer = json.loads(out)
    assert answer["seconds_dropped"] == 0 and answer["seconds_skipped"] == 0, answer
    assert abs(answer["seconds_decoded"] - 25) < 0.2, answer
    assert took >= 20, f"curl was not paced: its upload was answered after {took:.1f} s"
    assert results["bursts"]["seconds_dropped"] == 0, results["bursts"]

    for follower, doc, sent in ((curl_follower, curl_doc, 25.0),
                                (burst_follower, burst_doc, 15.0)):
        assert follower.errors == []
        live = follower.init + follower.ordered_bytes()
        heard = audibility(*decode(live))
        assert heard.heard_whole(sent), f"{doc['title']} live: {heard} of {sent} s sent"
        replay_url = server.details(doc["id"])["replay_download_url"]
        replay = httpx.get(replay_url, timeout=30)
        assert replay.status_code == 200
        in_replay = audibility(*decode(replay.content))
        assert in_replay.heard_whole(sent), f"{doc['title']} replay: {in_replay}"


def test_a_bare_lf_legacy_source_that_resets_is_logged_as_gone_and_losses_are_a_metric(
        server: Server, tmp_path: Path) -> None:
    data = tone_file(tmp_path / "t.aac", 3, 500, "aac", "adts").read_bytes()
    doc = server.create_space()
    auth = base64.b64encode(f"source:{doc['host_key']}".encode()).decode()
    sock = socket.create_connection(("127.0.0.1", server.ingest_port), timeout=10)
    try:
        # DarkIce's head: bare LF line ends (rfc9112 §2.2)
        sock.sendall(f"SOURCE /ingest/{doc['id']} ICE/1.0\nAuthorization: Basic {auth}\n"
                     "Content-Type: audio/aac\n\n".encode())
        assert sock.recv(100).startswith(b"HTTP/1.0 200")
        sock.sendall(data)
        server.wait_on_air(doc["id"], 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()  # with SO_LINGER 0: a reset, not a close
    deadline = time.monotonic() + 20
    while f"source left {doc['id']}" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert f"source left {doc['id']}" in server.log()
    key = (server.data_dir / "admin.key").read_text().strip()
    metrics = httpx.get(f"{server.base_url}/api/admin/metrics", timeout=10,
                        headers={"Authorization": f"Bearer {key}"}).json()
    assert metrics["ingest"]["seconds_dropped"] == 0.0
    assert metrics["ingest"]["seconds_skipped"] == 0.0

"""A leaked host key: a newer source takes over only with audio that decodes, the host sees
every takeover, rotating the key cuts the intruder off, and `townhall broadcast` comes back."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.server import Server, push_tone, start_server, stop_process, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("takeover") / "data", "--attack-mode", "off")
    yield srv
    stop_server(srv)


def host_view(server: Server, space_id: str, key: str) -> httpx.Response:
    for _ in range(20):  # again while a busy shared machine makes the origin shed
        res = httpx.get(f"{server.base_url}/api/spaces/{space_id}/host",
                        headers={"Authorization": f"Bearer {key}"}, timeout=10)
        if res.status_code != 503:
            break
        time.sleep(0.5)
    return res


def rotate(server: Server, space_id: str, bearer: str) -> httpx.Response:
    """POST rotate-key, again while a busy shared machine makes the origin shed writes."""
    for _ in range(20):
        res = httpx.post(f"{server.base_url}/api/spaces/{space_id}/rotate-key",
                         headers={"Authorization": f"Bearer {bearer}"}, timeout=10)
        if res.status_code != 503:
            return res
        time.sleep(0.5)
    return res


def until(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError("condition not met")


def intrude(server: Server, space_id: str, key: str, body: bytes) -> None:
    auth = base64.b64encode(f"source:{key}".encode()).decode()
    with socket.create_connection(("127.0.0.1", server.ingest_port), timeout=10) as s:
        s.sendall(f"SOURCE /ingest/{space_id} HTTP/1.0\r\nAuthorization: Basic {auth}\r\n"
                  "Content-Type: audio/mpeg\r\n\r\n".encode() + body)
        time.sleep(1.5)


def test_no_audio_or_garbage_with_the_key_never_kicks_the_host_off(server: Server) -> None:
    doc = server.create_space()
    host = push_tone(doc["ingest_url"], 30)
    try:
        server.wait_on_air(doc["id"])
        intrude(server, doc["id"], doc["host_key"], b"")  # a head, no audio
        intrude(server, doc["id"], doc["host_key"], bytes(range(256)) * 200)  # garbage
        time.sleep(1)
        assert host.poll() is None, "the host's push was cut off"
        source: dict[str, Any] = host_view(server, doc["id"], doc["host_key"]).json()["source"]
        assert source == {"connected": True, "takeovers": 0, "last_takeover": None}
    finally:
        stop_process(host)


def test_valid_audio_takes_over_visibly_and_rotation_cuts_it_off(server: Server) -> None:
    doc = server.create_space()
    host = push_tone(doc["ingest_url"], 40)
    intruder = None
    try:
        server.wait_on_air(doc["id"])
        intruder = push_tone(doc["ingest_url"], 40, freq=880)
        until(lambda: host_view(server, doc["id"], doc["host_key"]).json()["source"]
              ["takeovers"] == 1)
        assert host.wait(10) is not None  # the host's old connection was closed
        source = host_view(server, doc["id"], doc["host_key"]).json()["source"]
        assert source["connected"] and source["last_takeover"] is not None
        # the host key cannot rotate itself (it rides in every ingest URL); the owner's can
        assert rotate(server, doc["id"], doc["host_key"]).status_code == 403
        rotated = rotate(server, doc["id"], server.admin_key)
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()
        assert set(new) == {"host_key", "ingest_url", "host_url"}
        assert new["host_key"] != doc["host_key"] and new["host_key"] in new["ingest_url"]
        assert intruder.wait(10) is not None  # cut off
        assert host_view(server, doc["id"], doc["host_key"]).status_code == 401
        view = host_view(server, doc["id"], new["host_key"]).json()
        assert view["source"]["connected"] is False
        assert rotate(server, doc["id"], "nope").status_code == 401
    finally:
        stop_process(host)
        if intruder is not None:
            stop_process(intruder)


def test_broadcast_reconnects_with_backoff_after_a_takeover(server: Server,
                                                           tmp_path: Path) -> None:
    doc = server.create_space()
    audio = tmp_path / "talk.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=14", str(audio)], check=True)
    bc = subprocess.Popen([sys.executable, "-m", "townhall.cli", "broadcast", str(audio),
                           "--space", doc["id"], "--key", doc["host_key"], "--server",
                           server.base_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    intruder = None
    try:
        server.wait_on_air(doc["id"])
        intruder = push_tone(doc["ingest_url"], 3, freq=880)  # takes over, then leaves
        out, err = bc.communicate(timeout=60)
        assert bc.returncode == 0, (out, err)
        assert b"reconnecting" in err
        takeovers = host_view(server, doc["id"], doc["host_key"]).json()["source"]["takeovers"]
        assert takeovers >= 2  # the intruder's, then the broadcast's own return
    finally:
        stop_process(bc)  # type: ignore[arg-type]
        if intruder is not None:
            stop_process(intruder)

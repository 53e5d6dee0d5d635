"""The ingest port against real sockets: idle anonymous connections (from many networks, or
from the operator's own) never keep a source with a key out, and every refusal reaches a
client that is still pushing as a readable answer (sent, half-closed, drained), so
`townhall broadcast` stops on a final one with one line instead of retrying."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.server import Server, push_tone, start_server, stop_process, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("ingest-port") / "data", "--attack-mode", "off")
    yield srv
    stop_server(srv)


def idle_sockets(port: int, sources: list[str]) -> list[socket.socket]:
    """One connected socket per source address (loopback only), each sending nothing."""
    out = []
    for source in sources:
        s = socket.create_connection(("127.0.0.1", port), timeout=5,
                                     source_address=(source, 0))
        out.append(s)
    return out


def answers(socks: list[socket.socket]) -> dict[str, int]:
    """What the idle sockets were told (their first line), counted."""
    seen: dict[str, int] = {}
    for s in socks:
        s.settimeout(0.2)
        try:
            line = s.recv(4096).split(b"\r\n", 1)[0].decode() or "closed"
        except TimeoutError:
            line = "still open"
        except OSError as exc:
            line = type(exc).__name__
        seen[line] = seen.get(line, 0) + 1
    return seen


@pytest.mark.parametrize("spread", ["many networks", "the operator's own network"])
def test_idle_anonymous_sockets_never_keep_a_source_with_a_key_out(
        server: Server, spread: str) -> None:
    doc = server.create_space(title=f"idle flood from {spread}")
    if spread == "many networks":  # 300 sockets from 10 /24s of loopback
        sources = [f"127.0.{n}.{h}" for n in range(1, 11) for h in range(2, 32)]
    else:  # 300 from the /24 the source itself comes from (127.0.0.1)
        sources = [f"127.0.0.{h}" for h in range(2, 152)] * 2
    socks = idle_sockets(server.ingest_port, sources)
    push = push_tone(doc["ingest_url"], 20)
    try:
        server.wait_on_air(doc["id"], timeout=20)  # within the idle sockets' head timeout
        seen = answers(socks)
        print(f"{spread}: the idle sockets were told {seen}")
        assert sum(n for line, n in seen.items() if line.startswith("HTTP/1.1 503")) >= 1
    finally:
        stop_process(push)
        for s in socks:
            s.close()


def push_with_key(port: int, space_id: str, key: str) -> tuple[bytes, str]:
    """A PUT that keeps pushing (a thread sends 2 MB) while it waits for the answer: what it
    read, and how its reading ended."""
    auth = base64.b64encode(f"source:{key}".encode()).decode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"PUT /ingest/{space_id} HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {auth}"
                 "\r\nContent-Type: audio/aac\r\n\r\n".encode())

    def keep_pushing() -> None:
        with contextlib.suppress(OSError):
            for _ in range(32):
                sock.sendall(b"\xff" * 65536)

    pusher = threading.Thread(target=keep_pushing)
    pusher.start()
    got, ended = b"", "eof"
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except ConnectionResetError:
        ended = "reset"
    pusher.join(10)
    sock.close()
    return got, ended


def test_a_refused_push_reads_its_answer_not_a_reset(server: Server) -> None:
    doc = server.create_space(title="refused")
    for _ in range(3):
        got, ended = push_with_key(server.ingest_port, doc["id"], "not-the-key")
        head, _, body = got.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 401"), (got[:200], ended)
        assert json.loads(body)["error"] == "bad_host_key"


def test_broadcast_stops_on_a_final_refusal_with_one_line(server: Server,
                                                          tmp_path: Path) -> None:
    doc = server.create_space(title="broadcast refused")
    audio = tmp_path / "talk.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=30", str(audio)], check=True)
    url = f"icecast://source:wrong@127.0.0.1:{server.ingest_port}/ingest/{doc['id']}"
    started = time.monotonic()
    bc = subprocess.Popen([sys.executable, "-m", "townhall.cli", "broadcast", str(audio),
                           "--ingest-url", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = bc.communicate(timeout=60)
    finally:
        stop_process(bc)
    took = time.monotonic() - started
    assert bc.returncode == 1, (out, err)
    lines = err.decode().strip().splitlines()
    assert lines == [lines[0]] and "401 bad_host_key" in lines[0], err
    assert json.loads(out)["reconnects"] == 0
    assert took < 15, f"it retried for {took:.1f} s"

"""Program slots are paid with audio, not with a connection: issued keys holding head-only
ingest connections hold no slot (and are cut off), hostile keys pushing real audio stop at
the slots not reserved for the operator, and the operator always goes live."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from harness.server import Server, push_tone, start_server, stop_process, stop_server

pytestmark = pytest.mark.slow
UPPER, RESERVED = 4, 1


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("slots") / "data", "--attack-mode", "off",
                       "--set", f"live_programs_per_origin={UPPER}",
                       "--set", f"live_programs_reserved={RESERVED}",
                       "--set", "ingest_provisional_s=3",
                       "--set", "ingest_idle_timeout_s=30")
    yield srv
    stop_server(srv)


def issued_spaces(server: Server, n: int) -> list[dict[str, str]]:
    """`n` spaces, each made with its own operator-issued API key (a host the operator
    trusted once)."""
    out = []
    for i in range(n):
        res = httpx.post(f"{server.base_url}/api/admin/keys", json={"name": f"host {i}"},
                         headers=server.hosting_headers(), timeout=10)
        assert res.status_code == 201, res.text
        out.append(server.create_space(api_key=res.json()["key"], title=f"hostile {i}"))
    return out


def head_only(server: Server, doc: dict[str, str]) -> socket.socket:
    """A PUT with the space's key whose body never comes."""
    auth = base64.b64encode(f"source:{doc['host_key']}".encode()).decode()
    s = socket.create_connection(("127.0.0.1", server.ingest_port), timeout=10)
    s.sendall(f"PUT /ingest/{doc['id']} HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {auth}"
              "\r\nContent-Type: audio/aac\r\n\r\n".encode())
    return s


def source_connected(server: Server, doc: dict[str, str]) -> bool:
    res = httpx.get(f"{server.base_url}/api/spaces/{doc['id']}/host", timeout=10,
                    headers={"Authorization": f"Bearer {doc['host_key']}"})
    return bool(res.json()["source"]["connected"])


def test_head_only_connections_with_issued_keys_hold_no_slot_and_are_cut_off(
        server: Server) -> None:
    hostile = issued_spaces(server, 7)
    socks = [head_only(server, doc) for doc in hostile]
    operator = server.create_space(title="operator")
    push = push_tone(operator["ingest_url"], 20)
    try:
        time.sleep(0.5)
        assert any(source_connected(server, doc) for doc in hostile)  # they were accepted
        server.wait_on_air(operator["id"], timeout=20)  # and the operator goes live anyway
        time.sleep(4)  # past ingest_provisional_s: each head-only source was cut off
        assert not any(source_connected(server, doc) for doc in hostile)
        s = socks[0]
        s.settimeout(10)
        answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"] in (
            "no_audio", "evicted_no_audio")
    finally:
        stop_process(push)
        for s in socks:
            s.close()


@pytest.mark.timing  # the ceiling follows the measured program lag: alone, not beside others
def test_hostile_keys_with_real_audio_never_take_the_operators_reserved_slot(
        server: Server) -> None:
    hostile = issued_spaces(server, UPPER - RESERVED + 1)
    pushes: list[subprocess.Popen[bytes]] = []
    try:
        for doc in hostile[:-1]:
            pushes.append(push_tone(doc["ingest_url"], 25))
        for doc in hostile[:-1]:
            server.wait_on_air(doc["id"], timeout=30)
        last = hostile[-1]
        extra = push_tone(last["ingest_url"], 25)  # one hostile program too many
        pushes.append(extra)
        assert extra.wait(20) != 0  # refused: ffmpeg ends with an error
        operator = server.create_space(title="operator")
        pushes.append(push_tone(operator["ingest_url"], 20))
        server.wait_on_air(operator["id"], timeout=30)  # the reserved slot
        assert not server.details(last["id"])["on_air"]
    finally:
        for p in pushes:
            stop_process(p)


def test_the_live_ceiling_follows_the_measured_program_lag(tmp_path_factory:
                                                           pytest.TempPathFactory) -> None:
    """With a lag budget no real program meets, the first program goes on air (nothing to
    measure yet), the next hosted one is refused 503 origin_busy from the measured lag, far
    below the upper bound, and the operator still goes live."""
    srv = start_server(tmp_path_factory.mktemp("lag") / "data", "--attack-mode", "off",
                       "--set", "live_programs_per_origin=20",
                       "--set", "program_lag_budget_s=0")
    pushes: list[subprocess.Popen[bytes]] = []
    try:
        first, second = issued_spaces(srv, 2)
        pushes.append(push_tone(first["ingest_url"], 20))
        srv.wait_on_air(first["id"], timeout=30)
        time.sleep(1.0)  # lag samples of the program on air
        auth = base64.b64encode(f"source:{second['host_key']}".encode()).decode()
        with socket.create_connection(("127.0.0.1", srv.ingest_port), timeout=10) as s:
            s.sendall(f"PUT /ingest/{second['id']} HTTP/1.1\r\nHost: t\r\nAuthorization: "
                      f"Basic {auth}\r\nContent-Type: audio/aac\r\n\r\n".encode())
            answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"] == "origin_busy"
        operator = srv.create_space(title="operator")
        pushes.append(push_tone(operator["ingest_url"], 20))
        srv.wait_on_air(operator["id"], timeout=30)
    finally:
        for p in pushes:
            stop_process(p)
        stop_server(srv)

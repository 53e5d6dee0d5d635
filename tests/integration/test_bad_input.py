"""Bad input gets a clear JSON error and leaves the space healthy: never a hang or a trace."""

from __future__ import annotations

import os
import socket
import subprocess

import httpx
import pytest

from harness.server import Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(module_server: Server) -> Server:
    """One origin for the module: every test here makes its own space."""
    return module_server


def ingest_url(server: Server, space_id: str) -> str:
    return f"http://127.0.0.1:{server.ingest_port}/ingest/{space_id}"


def raw_request(port: int, data: bytes, timeout: float = 15) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_ingest_with_wrong_key_is_refused_and_publishes_nothing(server: Server) -> None:
    doc = server.create_space()
    res = httpx.put(ingest_url(server, doc["id"]), content=os.urandom(1000),
                    auth=("source", "not-the-key"), timeout=10)
    assert res.status_code == 401
    assert res.json()["error"] == "bad_host_key"
    wrong = doc["ingest_url"].replace(doc["host_key"], "x" + doc["host_key"][1:])
    ff = subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                         "sine=duration=1", "-c:a", "aac", "-f", "adts", wrong],
                        capture_output=True, timeout=30)
    assert ff.returncode != 0
    assert server.details(doc["id"])["state"] == "scheduled"
    r = httpx.get(f"{server.media_base(doc['id'])}/media.m3u8", timeout=10)
    assert r.status_code == 404 and r.json()["error"] == "not_live"


def test_ingest_without_credentials_asks_for_them(server: Server) -> None:
    doc = server.create_space()
    res = httpx.put(ingest_url(server, doc["id"]), content=b"abc", timeout=10)
    assert res.status_code == 401
    assert "WWW-Authenticate" in res.headers


def test_unknown_space_is_404_everywhere(server: Server) -> None:
    res = httpx.put(ingest_url(server, "nosuchspace"), content=b"x", auth=("source", "k"),
                    timeout=10)
    assert res.status_code == 404 and res.json()["error"] == "space_not_found"
    for path in ("/api/spaces/nosuchspace", "/replay/nosuchspace.m4a",
                 "/api/spaces/nosuchspace/join"):
        r = (httpx.post if path.endswith("/join") else httpx.get)(server.base_url + path,
                                                                    timeout=10)
        assert r.status_code == 404, path
        assert r.json()["error"] == "space_not_found"
    r = httpx.post(f"{server.base_url}/api/spaces/nosuchspace/end",
                   headers={"Authorization": "Bearer k"}, timeout=10)
    assert r.status_code == 404


def test_ingest_on_an_unknown_path_or_method_is_refused(server: Server) -> None:
    assert b" 404 " in raw_request(server.ingest_port,
                                   b"PUT /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n").split(b"\r\n")[0]
    assert b" 405 " in raw_request(server.ingest_port,
                                   b"GET /ingest/x HTTP/1.1\r\nHost: x\r\n\r\n").split(b"\r\n")[0]
    assert b" 400 " in raw_request(server.ingest_port, b"garbage\r\n\r\n").split(b"\r\n")[0]


def test_garbage_ingest_is_refused_clearly_and_the_space_stays_healthy(server: Server) -> None:
    doc = server.create_space()
    res = httpx.put(ingest_url(server, doc["id"]), content=os.urandom(200_000),
                    auth=("source", doc["host_key"]), timeout=30)
    assert res.status_code == 415
    body = res.json()
    assert body["error"] == "undecodable_audio" and "decode" in body["detail"]
    assert server.details(doc["id"])["state"] == "scheduled"  # garbage never goes live
    ff = subprocess.run(["ffmpeg", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                         "sine=duration=2", "-c:a", "aac", "-f", "adts", doc["ingest_url"]],
                        capture_output=True, timeout=30)
    assert ff.returncode == 0, ff.stderr
    assert server.details(doc["id"])["state"] == "live"


def test_legacy_source_method_gets_ok_before_the_audio(server: Server) -> None:
    doc = server.create_space()
    import base64

    auth = base64.b64encode(f"source:{doc['host_key']}".encode()).decode()
    with socket.create_connection(("127.0.0.1", server.ingest_port), timeout=10) as s:
        s.sendall(f"SOURCE /ingest/{doc['id']} HTTP/1.0\r\nAuthorization: Basic {auth}\r\n"
                  "Content-Type: audio/mpeg\r\n\r\n".encode())
        assert s.recv(100).startswith(b"HTTP/1.0 200 OK")


def test_oversized_json_is_refused_with_413(server: Server) -> None:
    big = {"title": "x" * 100_000, "host": "h"}
    res = httpx.post(f"{server.base_url}/api/spaces", json=big, timeout=10,
                     headers=server.hosting_headers())
    assert res.status_code == 413
    assert res.json()["error"] == "body_too_large"

    def chunks() -> object:
        for _ in range(40):
            yield b" " * 1024

    res = httpx.post(f"{server.base_url}/api/spaces", content=chunks(),  # type: ignore[arg-type]
                     headers={"Content-Type": "application/json", **server.hosting_headers()},
                     timeout=10)
    assert res.status_code == 413


@pytest.mark.parametrize("body,field", [
    ({"host": "h"}, "title"),
    ({"title": "", "host": "h"}, "title"),
    ({"title": "t", "host": "h", "listener_cap": 0}, "listener_cap"),
    ({"title": "t", "host": "h", "scheduled_start": "tomorrow-ish"}, "scheduled_start"),
    ({"title": "t", "host": "h", "scheduled_start": "2026-11-23T18:00:00"}, "scheduled_start"),
    ({"title": "t", "host": "h", "surprise": 1}, "surprise"),
])
def test_invalid_space_requests_get_422_naming_the_field(server: Server, body: dict[str, object],
                                                         field: str) -> None:
    res = httpx.post(f"{server.base_url}/api/spaces", json=body, timeout=10,
                     headers=server.hosting_headers())
    assert res.status_code == 422
    assert res.json()["error"] == "invalid_request"
    assert field in res.json()["detail"]


def test_malformed_json_gets_422(server: Server) -> None:
    res = httpx.post(f"{server.base_url}/api/spaces", content=b"{not json",
                     headers={"Content-Type": "application/json", **server.hosting_headers()},
                     timeout=10)
    assert res.status_code == 422


def test_ending_twice_is_409_and_a_wrong_key_cannot_end(server: Server) -> None:
    doc = server.create_space()
    r = httpx.post(f"{server.base_url}/api/spaces/{doc['id']}/end",
                   headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert r.status_code == 401
    assert server.end_space(doc).status_code == 200
    again = server.end_space(doc)
    assert again.status_code == 409 and again.json()["error"] == "already_ended"
    assert server.details(doc["id"])["replay_url"] is None  # never went live: no replay
    res = httpx.put(ingest_url(server, doc["id"]), content=b"x",
                    auth=("source", doc["host_key"]), timeout=10)
    assert res.status_code == 409 and res.json()["error"] == "space_ended"


def test_blocking_reload_rules_follow_rfc8216bis(server: Server) -> None:
    doc = server.create_space()
    push = subprocess.Popen(["ffmpeg", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                             "sine=duration=6", "-c:a", "aac", "-f", "adts", doc["ingest_url"]])
    try:
        base = server.media_base(doc["id"])
        media = f"{base}/media.m3u8"
        r = httpx.get(media, params={"_HLS_msn": 0, "_HLS_part": 2}, timeout=15)
        for _ in range(50):
            if r.status_code == 200:
                break
            r = httpx.get(media, params={"_HLS_msn": 0, "_HLS_part": 2}, timeout=15)
        assert r.status_code == 200 and 'URI="part/0.2.m4s"' in r.text
        assert httpx.get(media, params={"_HLS_msn": 50}, timeout=10).status_code == 400
        assert httpx.get(media, params={"_HLS_part": 1}, timeout=10).status_code == 400
        assert httpx.get(media, params={"_HLS_msn": "x"}, timeout=10).status_code == 400
        part = httpx.get(f"{base}/part/0.0.m4s", timeout=10)
        assert part.status_code == 200
        assert "immutable" in part.headers["cache-control"]
        assert "stale-if-error" in httpx.get(media, timeout=10).headers["cache-control"]
        gone = httpx.get(f"{base}/part/999.0.m4s", timeout=10)
        assert gone.status_code == 404
    finally:
        push.wait(30)

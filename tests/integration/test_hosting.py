"""Hosting needs an identity: the operator's admin key or an issued API key, with quotas."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.server import Server, push_tone, start_server, stop_process, stop_server

QUOTAS = ("--set", "spaces_per_hour_per_key=2", "--set", "live_spaces_per_key=1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("hosting") / "data", *QUOTAS)
    yield srv
    stop_server(srv)


def keys_cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "townhall.cli", "keys", "--data-dir",
                           str(server.data_dir), *args], capture_output=True, text=True,
                          timeout=30)


def post_space(server: Server, key: str | None, body: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.base_url}/api/spaces", json=body, headers=headers, timeout=10)


def source_status(server: Server, space_id: str, key: str) -> bytes:
    """The ingest's first answer to an Icecast SOURCE with the key."""
    auth = base64.b64encode(f"source:{key}".encode()).decode()
    with socket.create_connection(("127.0.0.1", server.ingest_port), timeout=10) as s:
        s.sendall(f"SOURCE /ingest/{space_id} HTTP/1.0\r\nAuthorization: Basic {auth}\r\n"
                  "Content-Type: audio/mpeg\r\n\r\n".encode())
        return s.recv(300)


def test_anonymous_create_is_refused_before_the_body_is_read(server: Server) -> None:
    res = post_space(server, None, {"title": "t", "host": "h"})
    assert res.status_code == 401 and res.json()["error"] == "hosting_key_required"
    res = post_space(server, "not-a-key", {"surprise": 1})  # auth comes before validation
    assert res.status_code == 401
    assert all(s["title"] != "t" for s in httpx.get(
        f"{server.base_url}/api/spaces").json()["spaces"])


def test_the_admin_key_is_printed_with_its_path_and_hosts(server: Server) -> None:
    log = server.log()
    assert server.admin_key in log and str(server.data_dir.resolve() / "admin.key") in log
    assert post_space(server, server.admin_key, {"title": "op", "host": "h"}).status_code == 201


def test_cli_keys_host_until_revoked_and_hold_to_quotas(server: Server) -> None:
    made = keys_cli(server, "create", "--role", "host", "--name", "Ada")
    assert made.returncode == 0, made.stderr
    doc = httpx.Response(200, content=made.stdout).json()
    key, key_id = doc["key"], doc["id"]
    assert doc["role"] == "host" and key.startswith("thk_")
    listed = keys_cli(server, "list").stdout
    assert key_id in listed and key not in listed  # never shown again
    first = post_space(server, key, {"title": "a", "host": "Ada"})
    second = post_space(server, key, {"title": "b", "host": "Ada"})
    assert first.status_code == second.status_code == 201
    third = post_space(server, key, {"title": "c", "host": "Ada"})
    assert third.status_code == 429 and third.json()["error"] == "quota_exceeded"
    assert int(third.headers["retry-after"]) > 3000
    # one live space per key: the first goes on air, the second is refused at the ingest
    tone = push_tone(first.json()["ingest_url"], 20)
    try:
        server.wait_on_air(first.json()["id"])
        refused = source_status(server, second.json()["id"], second.json()["host_key"])
        assert b"429" in refused and b"quota_exceeded" in refused
    finally:
        stop_process(tone)
    assert keys_cli(server, "revoke", key_id).returncode == 0
    assert post_space(server, key, {"title": "d", "host": "Ada"}).status_code == 401
    gone = source_status(server, second.json()["id"], second.json()["host_key"])
    assert b"403" in gone and b"key_revoked" in gone


def test_admin_api_issues_and_revokes_keys_and_hosts_cannot(server: Server) -> None:
    admin = server.hosting_headers()
    res = httpx.post(f"{server.base_url}/api/admin/keys", json={"name": "Bob"}, headers=admin,
                     timeout=10)
    assert res.status_code == 201 and res.json()["role"] == "host"
    key, key_id = res.json()["key"], res.json()["id"]
    host = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{server.base_url}/api/admin/keys", headers=host,
                     timeout=10).status_code == 403
    assert httpx.get(f"{server.base_url}/api/admin/metrics", headers=host,
                     timeout=10).status_code == 401
    listed = httpx.get(f"{server.base_url}/api/admin/keys", headers=admin, timeout=10).json()
    assert key_id in [k["id"] for k in listed["keys"]] and key not in str(listed)
    gone = httpx.delete(f"{server.base_url}/api/admin/keys/{key_id}", headers=admin, timeout=10)
    assert gone.status_code == 200 and gone.json()["revoked_at"] is not None
    assert post_space(server, key, {"title": "x", "host": "Bob"}).status_code == 401
    assert httpx.delete(f"{server.base_url}/api/admin/keys/nope", headers=admin,
                        timeout=10).status_code == 404


def test_unused_spaces_expire_and_ended_ones_leave_the_list(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--set", "unused_space_expiry_s=2",
                          "--set", "ended_listed_s=1")
    try:
        expires(server)
    finally:
        stop_server(server)


def expires(server: Server) -> None:
    doc = server.create_space(title="never aired")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and server.details(doc["id"])["state"] != "ended":
        time.sleep(0.3)
    assert server.details(doc["id"])["state"] == "ended"
    time.sleep(1.2)  # ended_listed_s
    listed = httpx.get(f"{server.base_url}/api/spaces").json()["spaces"]
    assert doc["id"] not in [s["id"] for s in listed]


def test_keys_cli_refuses_a_bad_role(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "townhall.cli", "keys", "--data-dir",
                          str(tmp_path), "create", "--role", "god", "--name", "x"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "invalid choice" in res.stderr


def test_only_the_owner_or_an_admin_rotates_a_host_key_never_the_host_key_itself(
        server: Server) -> None:
    """Least privilege: the host key rides in every ingest URL, so it may stream but not
    rotate itself (a leaked ingest URL must not lock the real host out)."""
    admin = server.hosting_headers()
    made = [httpx.post(f"{server.base_url}/api/admin/keys", json={"name": n}, headers=admin,
                       timeout=10).json()["key"] for n in ("Owner", "Other")]
    owner, other = made
    doc = server.create_space(api_key=owner)
    url = f"{server.base_url}/api/spaces/{doc['id']}/rotate-key"

    def rotate(bearer: str) -> httpx.Response:
        return httpx.post(url, headers={"Authorization": f"Bearer {bearer}"}, timeout=10)

    refused = rotate(doc["host_key"])
    assert refused.status_code == 403 and refused.json()["error"] == "owner_key_required"
    assert rotate(other).status_code == 401  # another host's key owns nothing here
    assert rotate("nope").status_code == 401
    by_owner = rotate(owner)
    assert by_owner.status_code == 200, by_owner.text
    assert rotate(by_owner.json()["host_key"]).status_code == 403  # nor the new host key
    assert rotate(server.admin_key).status_code == 200

"""Signed webhooks against a real HTTP receiver on loopback: a receiver that is down while
events happen (and the server restarts) gets them all once it is back, in order, each
signed per Standard Webhooks; a host key's endpoint hears only its own spaces; endpoints on
private addresses are refused unless the operator allows them."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.server import free_port, push_tone, start_server, stop_server
from townhall.live.errors import SpaceError
from townhall.reach import signature
from townhall.reach.webhooks import Webhooks
from townhall.settings import Settings
from townhall.store.factory import open_stores

FLAGS = ("--set", "shed_lag_scale=20", "--set", "webhook_allow_private=true",
         "--set", "webhook_poll_s=0.2",
         "--set", "webhook_retry_first_s=0.5", "--set", "webhook_retry_max_s=1")


class Receiver:
    """A webhook receiver on a fixed loopback port that can be started and stopped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.got: list[tuple[str, dict[str, str], bytes]] = []
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> None:
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def types(self, path: str) -> list[str]:
        return [json.loads(b)["type"] for p, _, b in self.got if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(free_port())
    try:
        yield r
    finally:
        r.stop()


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
def test_a_receiver_down_through_a_restart_gets_every_event_in_order_signed(
        tmp_path: Path, receiver: Receiver) -> None:
    data = tmp_path / "data"
    srv = start_server(data, *FLAGS)
    try:
        base = srv.base_url
        host_key = httpx.post(f"{base}/api/admin/keys", json={"name": "desk"},
                              headers=srv.hosting_headers(), timeout=10).json()
        hook = f"http://127.0.0.1:{receiver.port}"
        made = httpx.post(f"{base}/api/webhooks", headers=srv.hosting_headers(), timeout=10,
                          json={"url": f"{hook}/admin", "events": ["space.scheduled",
                                "space.live", "space.ended", "replay.ready"]})
        assert made.status_code == 201, made.text
        admin_ep = made.json()
        assert admin_ep["secret"].startswith("whsec_")
        host_ep = httpx.post(f"{base}/api/webhooks", headers=srv.hosting_headers(
            host_key["key"]), timeout=10, json={"url": f"{hook}/host",
                                                "events": ["space.scheduled"]}).json()
        assert httpx.post(f"{base}/api/webhooks", headers=srv.hosting_headers(), timeout=10,
                          json={"url": f"{hook}/x", "events": ["space.nope"]}
                          ).status_code == 422
        assert httpx.post(f"{base}/api/webhooks", timeout=10,
                          json={"url": f"{hook}/x", "events": ["space.live"]}
                          ).status_code == 401
        admins = srv.create_space(title="Operator's")
        hosts = srv.create_space(title="Desk's", api_key=host_key["key"])

        def failures() -> list[dict[str, Any]]:
            res = httpx.get(f"{base}/api/webhooks/{admin_ep['id']}/deliveries",
                            headers=srv.hosting_headers(), timeout=10)
            assert res.status_code in (200, 503), (res.status_code, res.text)
            return [a for a in res.json().get("attempts", []) if a["error"]]

        _wait(lambda: len(failures()) >= 2, 20, "failed attempts while the receiver is down")
        assert "ConnectError" in failures()[0]["error"]
    finally:
        stop_server(srv)
    srv = start_server(data, *FLAGS)  # the queue is in the store: nothing is lost
    try:
        receiver.start()
        ingest = httpx.get(f"{srv.base_url}/api/spaces/{hosts['id']}/host", timeout=10,
                           headers={"Authorization": f"Bearer {hosts['host_key']}"})
        assert push_tone(ingest.json()["ingest_url"], 5, 500).wait(60) == 0
        assert srv.end_space(hosts).status_code == 200
        want = ["space.scheduled", "space.scheduled", "space.live", "space.ended",
                "replay.ready"]
        _wait(lambda: len(receiver.types("/admin")) >= len(want), 60, "the admin's events")
        time.sleep(1.0)  # nothing more may arrive (each event once)
        admin_got = [(json.loads(b)["type"], json.loads(b)["data"]["space_id"])
                     for p, _, b in receiver.got if p == "/admin"]
        assert admin_got == [("space.scheduled", admins["id"]),
                             ("space.scheduled", hosts["id"]), ("space.live", hosts["id"]),
                             ("space.ended", hosts["id"]), ("replay.ready", hosts["id"])]
        assert receiver.types("/host") == ["space.scheduled"]  # its own space only
        ids = set()
        for path, headers, body in receiver.got:
            secret = admin_ep["secret"] if path == "/admin" else host_ep["secret"]
            assert signature.verify(secret, headers, body, time.time()), headers
            assert not signature.verify(secret, headers, body + b" ", time.time())
            ids.add(headers["webhook-id"])
        assert len(ids) == len(receiver.got) - 1  # the host's copy shares the event's id
        ready = json.loads(receiver.got[-1][2]) if receiver.got[-1][0] == "/admin" else None
        if ready is not None:
            assert ready["data"]["replay_download_url"].endswith(f"/replay/{hosts['id']}.m4a")
        log = httpx.get(f"{srv.base_url}/api/webhooks/{admin_ep['id']}/deliveries",
                        headers=srv.hosting_headers(), timeout=10).json()
        assert log["pending"] == 0 and log["attempts"][0]["status"] == 204
        other = httpx.get(f"{srv.base_url}/api/webhooks/{admin_ep['id']}/deliveries",
                          headers=srv.hosting_headers(host_key["key"]), timeout=10)
        assert other.status_code == 404  # another key's endpoint is not shown
    finally:
        stop_server(srv)


def test_endpoints_on_private_addresses_are_refused_unless_allowed(tmp_path: Path) -> None:
    async def check(allow: bool, url: str) -> str | None:
        settings = Settings.of(data_dir=tmp_path / "d", webhook_allow_private=allow)
        stores = open_stores(settings)
        try:
            await Webhooks(settings, stores.reach).check_url(url)
        except SpaceError as exc:
            return exc.code
        finally:
            stores.close()
        return None

    for url in ("http://127.0.0.1:9/", "http://localhost/", "http://10.1.2.3/",
                "http://169.254.169.254/latest", "http://[::1]/", "http://192.168.0.1/",
                "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://100.64.0.1/"):
        assert asyncio.run(check(False, url)) == "private_address", url
    assert asyncio.run(check(True, "http://127.0.0.1:9/")) is None
    assert asyncio.run(check(False, "ftp://example.com/")) == "invalid_url"
    assert asyncio.run(check(False, "http://[::1/")) == "invalid_url"

"""A ticket shared among many: renewing or leaving needs the seat's secret (never in a URL),
the edge counts the addresses each seat starts playing from, and a shared seat is revoked."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.edge import start_edge
from harness.server import free_port, push_tone, start_server, stop_process, stop_server

pytestmark = pytest.mark.slow


def get_from(url: str, address: str) -> int:
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.get(url).status_code


def test_a_ticket_played_from_many_addresses_is_found_and_revoked(tmp_path: Path) -> None:
    edge_port = free_port()
    origin = start_server(tmp_path / "data", "--attack-mode", "off", "--public-url",
                          f"http://127.0.0.1:{edge_port}")
    edge = start_edge(origin, tmp_path / "edge", edge_port)
    tone = None
    try:
        doc = origin.create_space(listener_cap=3)
        tone = push_tone(doc["ingest_url"], 40)
        origin.wait_on_air(doc["id"])
        join = f"{edge.url}/api/spaces/{doc['id']}/join"
        mine = httpx.post(join, json={}, timeout=10).json()
        other = httpx.post(join, json={}, timeout=10).json()
        # the URL alone neither renews nor gives the seat back
        for body in ({"renew": other["ticket"]},
                     {"renew": other["ticket"], "seat_secret": mine["seat_secret"]}):
            res = httpx.post(join, json=body, timeout=10)
            assert res.status_code == 403 and res.json()["error"] == "seat_secret_required"
        leave = f"{edge.url}/api/spaces/{doc['id']}/leave"
        assert httpx.post(leave, json={"ticket": other["ticket"]}, timeout=10).status_code == 403
        ok = httpx.post(join, json={"renew": other["ticket"],
                                    "seat_secret": other["seat_secret"]}, timeout=10)
        assert ok.status_code == 200 and ok.json()["seat"] == other["seat"]
        # one ticket, twelve players on twelve addresses
        base = mine["playlist_url"].rsplit("/", 1)[0]
        for i in range(12):
            for path in ("master.m3u8", "init.mp4"):
                assert get_from(f"{base}/{path}", f"127.0.9.{i + 2}") == 200
        def shared(*revoke: str) -> list[dict[str, object]]:
            out = subprocess.run(
                [sys.executable, "-m", "townhall.cli", "tickets", "shared", "--log",
                 str(edge.prefix / "seats.log"), *revoke, "--server", origin.base_url,
                 "--data-dir", str(origin.data_dir), "--edge-prefix", str(edge.prefix)],
                capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            return [json.loads(line) for line in out.stdout.splitlines()]

        # the edge flushes its log every 2 s, so a look may come between two flushes: wait
        # until all twelve starts are in it, then revoke
        found: list[dict[str, object]] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and [f["addresses"] for f in found] != [12]:
            time.sleep(1)
            found = shared()
        assert [f["addresses"] for f in found] == [12], found
        assert shared("--revoke") == [{"space": doc["id"], "seat": mine["seat"],
                                       "addresses": 12, "revoked": True}]
        again = httpx.post(join, json={"renew": mine["ticket"],
                                       "seat_secret": mine["seat_secret"]}, timeout=10)
        assert again.status_code == 403 and again.json()["error"] == "ticket_revoked"
        assert origin.details(doc["id"])["listeners"]["now"] == 1  # the shared seat is free
        # and the edge refuses the shared ticket at once (not only at its expiry)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and get_from(f"{base}/init.mp4", "127.0.9.2") != 403:
            time.sleep(0.3)
        assert get_from(f"{base}/init.mp4", "127.0.9.3") == 403
        other_base = other["playlist_url"].rsplit("/", 1)[0]
        assert get_from(f"{other_base}/init.mp4", "127.0.9.4") == 200  # others play on
    finally:
        if tone is not None:
            stop_process(tone)
        edge.stop()
        stop_server(origin)

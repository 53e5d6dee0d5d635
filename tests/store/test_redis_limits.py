"""Two origins sharing Redis share one join budget per client (a real redis-server)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.server import free_port, start_server, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                import socket

                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def test_two_origins_share_one_join_budget_through_redis(tmp_path: Path, redis_url: str) -> None:
    common = ["--redis-url", redis_url, "--attack-mode", "off",
              "--set", "join_burst_per_address=10", "--set", "join_rate_per_address=0.01"]
    a = start_server(tmp_path / "a", *common)
    b = start_server(tmp_path / "b", *common)
    try:
        sa, sb = a.create_space(), b.create_space()
        ok = 0
        for i in range(20):  # the same client alternates between the two origins
            srv, sp = (a, sa) if i % 2 == 0 else (b, sb)
            r = httpx.post(f"{srv.base_url}/api/spaces/{sp['id']}/join",
                           headers={"X-Real-IP": "127.44.0.9"}, timeout=10)
            assert r.status_code in (200, 429), r.text
            ok += r.status_code == 200
        assert ok == 10  # one budget of 10, not 10 per origin
    finally:
        stop_server(a)
        stop_server(b)


def test_limits_fail_open_when_redis_is_unreachable(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "d", "--redis-url", f"redis://127.0.0.1:{free_port()}/0")
    try:
        sp = srv.create_space()
        r = httpx.post(f"{srv.base_url}/api/spaces/{sp['id']}/join", timeout=10)
        assert r.status_code == 200
    finally:
        stop_server(srv)

"""An edge the origin does not know by address (another machine) is still believed about its
listeners' addresses, by the shared edge secret; a client that claims an address is not."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harness.edge import start_edge
from harness.server import free_port, start_server, stop_server

pytestmark = pytest.mark.slow


def join_from(url: str, address: str, headers: dict[str, str] | None = None) -> int:
    """POST the join from a loopback source address of our choosing."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.post(url, json={}, headers=headers or {}).status_code


def test_joins_through_an_untrusted_network_edge_keep_their_own_budgets(
        tmp_path: Path) -> None:
    edge_port = free_port()
    # the origin trusts no network: as if the edge ran on another machine
    origin = start_server(tmp_path / "data", "--attack-mode", "off", "--trusted-proxy",
                          "192.0.2.0/32", "--public-url", f"http://127.0.0.1:{edge_port}")
    edge = start_edge(origin, tmp_path / "edge", edge_port)
    try:
        doc = origin.create_space()
        via_edge = f"{edge.url}/api/spaces/{doc['id']}/join"
        codes = [join_from(via_edge, f"127.0.{i // 200}.{i % 200 + 2}") for i in range(30)]
        assert codes.count(200) == 30, codes  # 30 listeners, 30 budgets at the origin
        # straight at the origin, a client's own X-Real-IP and a guessed secret are ignored
        direct = f"{origin.base_url}/api/spaces/{doc['id']}/join"
        forged = [join_from(direct, "127.0.3.9", {"X-Real-IP": f"10.0.0.{i}",
                                                  "X-Townhall-Edge": "guess"})
                  for i in range(30)]
        assert forged.count(429) >= 10, forged  # one address's burst, however it is named
    finally:
        edge.stop()
        stop_server(origin)

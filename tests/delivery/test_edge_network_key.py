"""The per-network rate-limit key (`$townhall_net`, the join_net zone) of a rendered edge
config, run by a real nginx: one key per /24 or /48, whatever the text of the address."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from harness.server import free_port, stop_process
from townhall.delivery.edge_config import EdgeSettings, render


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An nginx that answers the network key of the address in X-Forwarded-For (realip),
    with the `$townhall_net` map exactly as the edge config renders it."""
    prefix = tmp_path_factory.mktemp("netkey")
    conf = render(EdgeSettings(origins=("127.0.0.1:9",), ticket_secret="s", prefix=str(prefix)))
    network_map = re.search(r"    map \$\w+ \$townhall_net \{.*?\n    \}", conf, re.S)
    assert network_map is not None
    port = free_port()
    (prefix / "nginx.conf").write_text(f"""pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
{network_map.group(0)}
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    server {{
        listen 127.0.0.1:{port};
        location / {{ default_type application/octet-stream; return 200 "$townhall_net"; }}
    }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(prefix / "nginx.conf"), "-p", str(prefix),
                             "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        stop_process(proc)


def key(url: str, address: str) -> bytes:
    return httpx.get(url, headers={"X-Forwarded-For": address}, timeout=5).content


@pytest.mark.parametrize("same", [
    ("2001:db8::5:6", "2001:db8:0:5::6", "2001:db8:0:ffff:1:2:3:4", "2001:0db8:0000::1"),
    ("2001::1", "2001:0:0:9::1", "2001::ffff:1", "2001:0:0:1:2:3:4:5"),
    ("2a01:4f8:1c1c::1", "2a01:4f8:1c1c:1::1", "2a01:04f8:1c1c:ffff::"),
    ("192.0.2.1", "192.0.2.254", "192.0.2.77"),
])
def test_every_spelling_of_one_network_is_one_key(keyed: str, same: tuple[str, ...]) -> None:
    keys = {key(keyed, a) for a in same}
    assert len(keys) == 1, keys


def test_different_networks_are_different_keys(keyed: str) -> None:
    addresses = ("2001:db8::1", "2001:db9::1", "2001:db8:1::1", "2001::1", "192.0.2.1",
                 "192.0.3.1", "10.0.0.1")
    assert len({key(keyed, a) for a in addresses}) == len(addresses)

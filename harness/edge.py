"""A real nginx edge (config from `townhall edge-config`) in front of a real origin."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.server import Server, free_port, start_server, stop_process, stop_server


@dataclass
class Edge:
    url: str
    prefix: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_process(self.process)


def start_edge(origin: Server, prefix: Path, port: int | None = None) -> Edge:
    return start_edge_over({"": origin}, prefix, port)


@contextmanager
def origin_behind_edge(root: Path, *flags: str,
                       public: bool = False) -> Iterator[tuple[Server, Edge]]:
    """An origin (`townhall serve` with `flags`, data under root/data) and one nginx edge in
    front of it (root/edge); both stopped afterwards, whatever happened. `public`: the
    origin's links (details, join answers) point at the edge, as in a deployment."""
    edge_port = free_port()
    if public:
        flags = (*flags, "--public-url", f"http://127.0.0.1:{edge_port}")
    origin = start_server(root / "data", *flags)
    edge: Edge | None = None
    try:
        edge = start_edge(origin, root / "edge", edge_port)
        yield origin, edge
    finally:
        if edge is not None:
            edge.stop()
        stop_server(origin)


def start_edge_over(origins: dict[str, Server], prefix: Path, port: int | None = None) -> Edge:
    """An edge in front of origins by tag ("" for a lone untagged origin); the ticket secret
    is read from the first origin's data dir (the origins share it)."""
    port = port or free_port()
    args = []
    for tag, origin in origins.items():
        hostport = origin.base_url.removeprefix("http://")
        args += ["--origin", f"{tag}={hostport}" if tag else hostport]
    first = next(iter(origins.values()))
    subprocess.run([sys.executable, "-m", "townhall.cli", "edge-config", *args,
                    "--listen", f"127.0.0.1:{port}", "--prefix", str(prefix),
                    "--data-dir", str(first.data_dir), "--worker-connections", "4096"],
                   check=True, capture_output=True)
    conf = prefix / "nginx.conf"
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(prefix), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {(prefix / 'error.log').read_text()}")
        try:
            r = httpx.get(url + "/", timeout=1)
            if "x-cache" in r.headers:  # nginx answering, not something else on the port
                return Edge(url, prefix, proc)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("nginx did not start")


def origin_metrics(origin: Server) -> dict[str, Any]:
    key = (origin.data_dir / "admin.key").read_text().strip()
    res = httpx.get(f"{origin.base_url}/api/admin/metrics",
                    headers={"Authorization": f"Bearer {key}"}, timeout=10)
    res.raise_for_status()
    out: dict[str, Any] = res.json()
    return out

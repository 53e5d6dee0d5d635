"""Test helpers: a real `townhall serve` process on free loopback ports, and tone checks."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

_handed_out: set[int] = set()
# ports handed out by any process on this machine (pytest-xdist workers, a bench beside the
# suite): a file per port, made with O_EXCL, so that two processes never get the same port in
# the moment between choosing it and their server binding it
_RESERVED = Path(tempfile.gettempdir()) / "townhall-ports"
_RESERVATION_S = 300.0  # a server binds its port within seconds; older files are stale


def _reserve(port: int) -> bool:
    _RESERVED.mkdir(exist_ok=True)
    path = _RESERVED / str(port)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        try:
            if time.time() - path.stat().st_mtime > _RESERVATION_S:
                path.unlink()  # stale: the next try may take it
        except FileNotFoundError:
            pass
        return False


def _below_ephemeral() -> tuple[int, int]:
    """Ports the kernel never picks as a connection's source port: below its ephemeral range
    (a port taken with bind(0) is *in* that range, and a load test's thousands of outgoing
    connections can take it as a source port before the server binds it)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return 10000, max(10001, low - 1)


def free_port() -> int:
    """A free loopback port never handed out before in this process, nor to another process
    in the last few minutes (a port reserved for a server that has not bound it yet must not
    go to another one), and outside the kernel's ephemeral range."""
    low, high = _below_ephemeral()
    while True:
        port = random.randint(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if _reserve(port):
            _handed_out.add(port)
            return port


@dataclass
class Server:
    base_url: str
    ingest_port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: Any = None
    created: list[dict[str, Any]] = field(default_factory=list)

    @property
    def admin_key(self) -> str:
        """The operator's key, which the server keeps in its data dir: a hosting credential."""
        return (self.data_dir / "admin.key").read_text().strip()

    def hosting_headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin_key}"}

    def create_space(self, *, api_key: str | None = None, **body: Any) -> dict[str, Any]:
        """A new space, created with `api_key` (default: the operator's admin key)."""
        body.setdefault("title", "Test space")
        body.setdefault("host", "Tester")
        for _ in range(20):  # a busy shared CI machine may make the origin shed a write
            res = httpx.post(f"{self.base_url}/api/spaces", json=body, timeout=10,
                             headers=self.hosting_headers(api_key))
            if res.status_code != 503 or "overloaded" not in res.text:
                break
            time.sleep(0.5)
        assert res.status_code == 201, res.text
        doc: dict[str, Any] = res.json()
        self.created.append(doc)
        return doc

    def end_space(self, doc: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.base_url}/api/spaces/{doc['id']}/end",
                          headers={"Authorization": f"Bearer {doc['host_key']}"}, timeout=30)

    def join(self, space_id: str) -> dict[str, Any]:
        res = httpx.post(f"{self.base_url}/api/spaces/{space_id}/join", timeout=10)
        assert res.status_code in (200, 202), res.text
        out: dict[str, Any] = res.json()
        return out

    def media_base(self, space_id: str) -> str:
        """The ticketed base URL of a space's live media (join as a listener)."""
        doc = self.join(space_id)
        assert doc["status"] == "admitted", doc
        return str(doc["playlist_url"]).rsplit("/", 1)[0]

    def wait_on_air(self, space_id: str, timeout: float = 15.0) -> None:
        """Until players can start (two complete segments published)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.details(space_id)["on_air"]:
                return
            time.sleep(0.1)
        raise TimeoutError("the space did not go on air")

    def details(self, space_id: str) -> dict[str, Any]:
        for _ in range(20):  # a busy shared CI machine may make the origin shed a read
            res = httpx.get(f"{self.base_url}/api/spaces/{space_id}", timeout=10)
            if res.status_code != 503:
                break
            time.sleep(0.5)
        res.raise_for_status()
        out: dict[str, Any] = res.json()
        return out

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


# how long `townhall serve` may take to answer before start_server gives up: a wait, not a
# figure (on a loaded shared 2-core machine an origin has taken over 30 s to import and start)
START_S = 90.0
# arguments every origin started here gets before its own (which win: `--set` keeps the last):
# tests/conftest.py sets them for tests that run side by side (see there)
EXTRA_ARGS: tuple[str, ...] = ()


def start_server(data_dir: Path, *extra: str, wrapper: tuple[str, ...] = ()) -> Server:
    """`townhall serve` on free ports; `wrapper` runs it under another command (prlimit).
    A port taken by another program between choosing it and binding it (not ours: those are
    reserved) costs one more start on other ports, not the test."""
    for attempt in range(3):
        try:
            return _start_server(data_dir, extra, wrapper)
        except PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    """The server could not bind a port chosen for it."""


def _start_server(data_dir: Path, extra: tuple[str, ...], wrapper: tuple[str, ...]) -> Server:
    extra = (*EXTRA_ARGS, *extra)
    port, ingest = free_port(), free_port()
    log_path = data_dir / "server.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [*wrapper, sys.executable, "-m", "townhall.cli", "serve", "--port", str(port),
         "--ingest-port", str(ingest), "--data-dir", str(data_dir), "--log-level", "warning",
         *extra],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.close()
            text = log_path.read_text(errors="replace")
            if "address already in use" in text:
                raise PortTaken(f"townhall serve could not bind: {text}")
            raise RuntimeError(f"townhall serve exited: {text}")
        try:
            if httpx.get(f"{base}/api/spaces", timeout=1).status_code == 200:
                return Server(base, ingest, data_dir, proc, log_path, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    proc.wait(5)
    log.close()
    raise RuntimeError(f"townhall serve did not start: {log_path.read_text()}")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Ask a child to stop, then make it: every test process ends, whatever it was doing."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def push_tone(ingest_url: str, seconds: float, freq: int = 440) -> subprocess.Popen[bytes]:
    """Real ffmpeg pushing a sine tone in real time to an icecast:// ingest URL."""
    return subprocess.Popen(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
         f"sine=frequency={freq}:duration={seconds}", "-c:a", "aac", "-f", "adts", ingest_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_server(server: Server) -> None:
    stop_process(server.process)
    if server.log_file is not None:
        server.log_file.close()


def tone_power(pcm: npt.NDArray[np.float32], rate: int, freq: float) -> float:
    """Fraction of the block's energy within ±30 Hz of `freq` (0..1)."""
    if len(pcm) < 64 or not np.any(pcm):
        return 0.0
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm)))) ** 2
    freqs = np.fft.rfftfreq(len(pcm), 1 / rate)
    band = (freqs > freq - 30) & (freqs < freq + 30)
    total = float(spectrum.sum())
    return float(spectrum[band].sum()) / total if total > 0 else 0.0

"""Sources in a cluster for the rejoin tests: what the program plays now (through the edge),
a pacing HTTP pusher whose answer the test reads, and ffmpeg restarted by a retry loop."""

from __future__ import annotations

import base64
import json
import re
import select
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import numpy.typing as npt

from harness.hls_client import decode
from harness.server import stop_process


def playing_now(edge_url: str, space_id: str, parts: int = 8) -> tuple[npt.NDArray[np.float32],
                                                                       int]:
    """The program's newest `parts` parts, decoded, as a listener through the edge gets them."""
    joined = httpx.post(f"{edge_url}/api/spaces/{space_id}/join", json={}, timeout=10).json()
    return playing_at(joined["playlist_url"].rsplit("/", 1)[0], parts)


def playing_at(base: str, parts: int = 8) -> tuple[npt.NDArray[np.float32], int]:
    """The newest `parts` parts of the media playlist under `base`, decoded."""
    text = httpx.get(f"{base}/media.m3u8", timeout=10).text
    uris = re.findall(r'#EXT-X-PART:[^\n]*URI="([^"]+)"', text)[-parts:]
    blob = httpx.get(f"{base}/init.mp4", timeout=10).content
    for uri in uris:
        blob += httpx.get(f"{base}/{uri}", timeout=10).content
    return decode(blob)


def tone_file(path: Path, seconds: float, freq: int) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency={freq}:duration={seconds}", "-c:a", "aac", "-b:a", "64k",
                    "-f", "adts", str(path)], check=True)
    return path


class Pusher(threading.Thread):
    """A chunked HTTP PUT of an ADTS file at about real time, on a raw socket so that an
    answer the server gives mid-body (409 taken over) is read as soon as it comes."""

    def __init__(self, url: str, key: str, adts: Path, seconds: float) -> None:
        super().__init__(daemon=True)
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.path, self.key = parts.path, key
        self.data, self.seconds = adts.read_bytes(), seconds
        self.answer: tuple[int, dict[str, Any]] | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        auth = base64.b64encode(f"source:{self.key}".encode()).decode()
        step = max(1, int(len(self.data) / self.seconds / 10))  # a tenth of a second a chunk
        received = b""
        with socket.create_connection(self.address, timeout=10) as sock:
            sock.sendall(f"PUT {self.path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}"
                         "\r\nContent-Type: audio/aac\r\nTransfer-Encoding: chunked\r\n\r\n"
                         .encode())
            start = time.monotonic()
            try:
                for i, at in enumerate(range(0, len(self.data), step)):
                    if self.stop.is_set() or select.select([sock], [], [], 0)[0]:
                        break
                    time.sleep(max(0.0, start + i * 0.1 - 0.3 - time.monotonic()))
                    chunk = self.data[at:at + step]
                    sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass
            try:
                while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
                    more = sock.recv(65536)
                    if not more:
                        break
                    received += more
            except OSError:
                pass
        head, _, body = received.partition(b"\r\n\r\n")
        try:
            self.answer = (int(head.split(b" ")[1]), json.loads(body))
        except (IndexError, ValueError):
            self.answer = (0, {"error": "no answer", "received": received[:300].decode(
                errors="replace")})


class FfmpegRetry(threading.Thread):
    """An operator's script: ffmpeg pushes a tone (chunked HTTP PUT), and is started again
    half a second after it exits, until stopped."""

    def __init__(self, url: str, freq: int, log: Path) -> None:
        super().__init__(daemon=True)
        self.url, self.freq, self.log = url, freq, log
        self.stop = threading.Event()
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self) -> None:
        with open(self.log, "ab") as log:
            while not self.stop.is_set():
                self.starts += 1
                self.proc = subprocess.Popen(
                    ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re",
                     "-f", "lavfi", "-i", f"sine=frequency={self.freq}:duration=600",
                     "-c:a", "aac", "-f", "adts", "-method", "PUT", "-auth_type", "basic",
                     self.url],
                    stdout=log, stderr=log)
                while self.proc.poll() is None and not self.stop.is_set():
                    time.sleep(0.1)
                stop_process(self.proc)
                self.stop.wait(0.5)

    def close(self) -> None:
        self.stop.set()
        if self.proc is not None:
            stop_process(self.proc)
        self.join(15)

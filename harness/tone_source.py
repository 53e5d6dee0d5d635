"""A live source with no ffmpeg: a paced WAV stream (a tone, optionally with marked beeps) PUT
to a townhall ingest, in a thread of its own.

Used where ffmpeg is not installed (the 16-core device run) and by the benchmarks that need
to know when each mark was pushed. The WAV head leaves its sizes open (0xFFFFFFFF), as live
tools do; 20 ms chunks are written on a real-time schedule (chunked transfer coding). A beep
(1 kHz, 100 ms, loud) replaces the tone every `beep_every_s`; the wall time at which the chunk
holding its first sample went to the socket is kept in `beeps`. Stops by itself after
`seconds`, or at `stop()`; loopback targets only (the ingest URL is checked).
"""

from __future__ import annotations

import base64
import math
import socket
import struct
import threading
import time
from urllib.parse import urlsplit

RATE = 48_000
CHUNK_S = 0.02
CHUNK = int(RATE * CHUNK_S)
BEEP_S = 0.1
BEEP_HZ = 1000.0


def wav_header() -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF))


def _pcm(freq: float, amp: float, samples: int, start: int = 0) -> bytes:
    return struct.pack(f"<{samples}h", *(int(amp * 32767 * math.sin(
        2 * math.pi * freq * (start + i) / RATE)) for i in range(samples)))


class ToneSource(threading.Thread):
    """`ToneSource(ingest_url, seconds).start()`; `ingest_url` is the space's
    icecast://source:KEY@127.0.0.1:PORT/ingest/ID (or http://)."""

    def __init__(self, ingest_url: str, seconds: float, *, freq: float = 440.0,
                 amp: float = 0.2, beep_every_s: float | None = None) -> None:
        super().__init__(daemon=True, name="tone-source")
        url = urlsplit(ingest_url)
        if url.hostname is None or not (url.hostname.startswith("127.")
                                        or url.hostname in ("localhost", "::1")):
            raise ValueError("the tone source only pushes to a loopback ingest")
        self.host, self.port, self.path = url.hostname, url.port or 80, url.path
        self.key = url.password or ""
        self.seconds = seconds
        self.beep_every_s = beep_every_s
        self.beeps: list[float] = []  # wall time each beep's first chunk was written
        self.sent_s = 0.0
        self.error: str | None = None
        self._halt = threading.Event()
        # one period of the tone that fits a whole number of chunks: 440 Hz -> 50 chunks
        self._tone = [_pcm(freq, amp, CHUNK, k * CHUNK) for k in range(50)]
        self._beep = [_pcm(BEEP_HZ, 0.5, CHUNK, k * CHUNK)
                      for k in range(int(BEEP_S / CHUNK_S))]
        self._quiet = bytes(2 * CHUNK)

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        try:
            self._push()
        except OSError as exc:
            self.error = str(exc)

    def _push(self) -> None:
        auth = base64.b64encode(f"source:{self.key}".encode()).decode()
        with socket.create_connection((self.host, self.port), timeout=10) as sock:
            sock.sendall((f"PUT {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                          f"Authorization: Basic {auth}\r\nContent-Type: audio/wav\r\n"
                          "Transfer-Encoding: chunked\r\nUser-Agent: townhall-bench\r\n\r\n"
                          ).encode())
            head = wav_header()
            sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
            t0 = time.time()
            k, beep_at, beep_k = 0, 1.0, -1
            while not self._halt.is_set() and k * CHUNK_S < self.seconds:
                wait = t0 + k * CHUNK_S - time.time()
                if wait > 0:
                    time.sleep(wait)
                if self.beep_every_s is not None:
                    if beep_k < 0 and k * CHUNK_S >= beep_at:
                        beep_k, beep_at = 0, beep_at + self.beep_every_s
                    if beep_k >= 0:
                        chunk = self._beep[beep_k]
                        if beep_k == 0:
                            self.beeps.append(time.time())
                        beep_k = beep_k + 1 if beep_k + 1 < len(self._beep) else -1
                    else:
                        chunk = self._quiet
                else:
                    chunk = self._tone[k % len(self._tone)]
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                k += 1
                self.sent_s = k * CHUNK_S
            sock.sendall(b"0\r\n\r\n")

"""A listener's wire bytes, split by what they pay for: what Chromium received for each
response (DevTools `Network.loadingFinished` encodedDataLength: status line, headers and the
body as sent), sorted into media payload, fMP4 boxes, response headers and playlists.

Shared by the lean-playlist browser test (which asserts the ratio) and
`bench/wire_budget.py` (which prints the table for docs/delivery.md)."""

from __future__ import annotations

import base64
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import BrowserContext, Page

from townhall.media.cmaf import iter_boxes

PART_RE = re.compile(r"/(?:part/)?\d+\.\d+\.m4s(?:\?|$)")
SEGMENT_RE = re.compile(r"/(?:seg/)?\d+\.m4s(?:\?|$)")


def kind_of(url: str) -> str:
    path = url.split("?", 1)[0]
    if "/live/" in path and PART_RE.search(path):
        return "part"
    if "/live/" in path and SEGMENT_RE.search(path):
        return "segment"
    if path.endswith("/media.m3u8"):
        return "playlist"
    if path.endswith("/init.mp4"):
        return "init"
    if path.endswith(".m3u8"):
        return "master"
    if "/api/spaces/" in path:
        return "details"
    return "other"


def mdat_payload(part: bytes) -> int:
    """Bytes of coded audio in a CMAF chunk: its mdat payloads."""
    return sum(len(body) for fourcc, body in iter_boxes(part) if fourcc == b"mdat")


def media_ticks(part: bytes) -> int:
    """The duration a CMAF chunk carries, in its track's timescale: sample count times the
    default sample duration, for each moof (tfhd and trun as townhall.media.cmaf writes them)."""
    ticks = 0
    for fourcc, moof in iter_boxes(part):
        if fourcc != b"moof":
            continue
        for name, traf in iter_boxes(moof):
            if name != b"traf":
                continue
            inner = dict(iter_boxes(traf))
            duration = struct.unpack(">I", inner[b"tfhd"][8:12])[0]
            count = struct.unpack(">I", inner[b"trun"][4:8])[0]
            ticks += count * duration
    return ticks


@dataclass
class Budget:
    """Bytes received while counting, by kind: header bytes and body bytes."""

    seconds: float = 0.0
    headers: Counter[str] = field(default_factory=Counter)
    bodies: Counter[str] = field(default_factory=Counter)
    responses: Counter[str] = field(default_factory=Counter)
    audio: int = 0  # mdat payloads of the parts and segments received
    media_ticks: int = 0  # the media duration those parts and segments carry (timescale ticks)
    boxes: int = 0  # the rest of their bodies: moof (mfhd, traf, tfhd, tfdt, trun) + mdat header
    gzip_playlists: int = 0
    delta_playlists: int = 0

    @property
    def total(self) -> int:
        return sum(self.headers.values()) + sum(self.bodies.values())

    def kbps(self, n: float) -> float:
        return n * 8 / self.seconds / 1000

    @property
    def stream(self) -> int:
        """The stream's bytes: everything under /live/ (not the page's details polls)."""
        return self.total - self.headers["details"] - self.bodies["details"] - \
            self.headers["other"] - self.bodies["other"]

    def ratio(self, audio_bps: int) -> float:
        return self.total * 8 / self.seconds / audio_bps

    def stream_ratio(self, audio_bps: int) -> float:
        return self.stream * 8 / self.seconds / audio_bps

    def rows(self, audio_bps: int) -> list[tuple[str, float, float]]:
        """(what, kb/s, share of the audio bitrate) for the table in docs/delivery.md."""
        out = [("audio payload (mdat of parts and segments)", self.kbps(self.audio)),
               ("fMP4 boxes (moof, mdat header)", self.kbps(self.boxes)),
               ("part response headers", self.kbps(self.headers["part"])),
               ("playlist bodies", self.kbps(self.bodies["playlist"])),
               ("playlist response headers", self.kbps(self.headers["playlist"]))]
        rest = self.stream - self.bodies["segment"] - sum(
            self.headers[k] + self.bodies[k] for k in ("part", "playlist"))
        out.append(("init, master, whole segments' headers", self.kbps(rest)))
        out.append(("the stream (everything under /live/)", self.kbps(self.stream)))
        out.append(("the page's details polls (every 2 s) and the rest",
                    self.kbps(self.total - self.stream)))
        out.append(("total", self.kbps(self.total)))
        return [(what, kb, kb * 1000 / audio_bps) for what, kb in out]

    def per_response(self, kind: str) -> tuple[float, float]:
        """Mean header and body bytes of one response of `kind`."""
        n = max(1, self.responses[kind])
        return self.headers[kind] / n, self.bodies[kind] / n


class WireMeter:
    """Counts what one Chromium page receives (CDP), while `counting`."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.budget = Budget()
        self.counting = False
        self._responses: dict[str, dict[str, Any]] = {}
        self._cdp = context.new_cdp_session(page)
        self._cdp.on("Network.responseReceived", self._response)
        self._cdp.on("Network.loadingFinished", self._finished)
        self._cdp.send("Network.enable")

    def _response(self, e: dict[str, Any]) -> None:
        r = e["response"]
        self._responses[e["requestId"]] = {
            "url": r["url"], "headers": {k.lower(): v for k, v in r["headers"].items()}}

    def _finished(self, e: dict[str, Any]) -> None:
        info = self._responses.pop(e["requestId"], None)
        if info is None or not self.counting:
            return
        url, headers = info["url"], info["headers"]
        kind = kind_of(url)
        total = int(e["encodedDataLength"])
        body = int(headers.get("content-length", "0") or 0)
        if body == 0 or body > total:  # chunked or unknown: ask for the body itself
            body = min(total, len(self._body(e["requestId"])))
        b = self.budget
        b.responses[kind] += 1
        b.headers[kind] += total - body
        b.bodies[kind] += body
        if kind in ("part", "segment"):
            data = self._body(e["requestId"])
            payload = mdat_payload(data) if data else 0
            b.audio += payload
            b.media_ticks += media_ticks(data) if data else 0
            b.boxes += body - payload
        if kind == "playlist":
            b.gzip_playlists += headers.get("content-encoding") == "gzip"
            b.delta_playlists += "_HLS_skip=" in url

    def _body(self, request_id: str) -> bytes:
        try:
            got = self._cdp.send("Network.getResponseBody", {"requestId": request_id})
        except Exception:  # evicted from DevTools' buffer: counted as empty
            return b""
        raw = got.get("body", "")
        return base64.b64decode(raw) if got.get("base64Encoded") else str(raw).encode()

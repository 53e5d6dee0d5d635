"""A minimal LL-HLS follower for tests: blocking reloads, every part downloaded in order."""

from __future__ import annotations

import asyncio
import io
import time
from dataclasses import dataclass, field

import av
import httpx
import numpy as np
import numpy.typing as npt


@dataclass
class ParsedPlaylist:
    media_sequence: int
    parts: list[tuple[int, int, str, float]]  # (msn, index, uri, duration)
    segments: list[tuple[int, str, float]]  # (msn, uri, duration)
    ended: bool
    discontinuities: list[int]  # msn of segments preceded by EXT-X-DISCONTINUITY
    part_target: float | None
    preload_hint: str | None
    text: str


def parse_playlist(text: str) -> ParsedPlaylist:
    lines = text.splitlines()
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not a playlist")
    seq = 0
    for line in lines:
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            seq = int(line.split(":", 1)[1])
    msn, idx = seq, 0
    parts: list[tuple[int, int, str, float]] = []
    segments: list[tuple[int, str, float]] = []
    discs: list[int] = []
    ended = False
    part_target = None
    hint = None
    extinf: float | None = None
    for line in lines:
        if line.startswith("#EXT-X-PART:"):
            attrs = dict(a.split("=", 1) for a in line.split(":", 1)[1].split(","))
            parts.append((msn, idx, attrs["URI"].strip('"'), float(attrs["DURATION"])))
            idx += 1
        elif line.startswith("#EXT-X-PART-INF:"):
            part_target = float(line.split("PART-TARGET=")[1].split(",")[0])
        elif line.startswith("#EXT-X-PRELOAD-HINT:"):
            hint = line.split('URI="')[1].split('"')[0]
        elif line == "#EXT-X-DISCONTINUITY":
            discs.append(msn)
        elif line.startswith("#EXTINF:"):
            extinf = float(line.split(":", 1)[1].rstrip(","))
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#"):
            assert extinf is not None
            segments.append((msn, line, extinf))
            msn, idx, extinf = msn + 1, 0, None
    return ParsedPlaylist(seq, parts, segments, ended, discs, part_target, hint, text)


@dataclass
class Follower:
    """Follows media.m3u8 like an LL-HLS player and keeps every part it fetched, in order."""

    media_url: str
    client: httpx.AsyncClient
    parts: dict[tuple[int, int], bytes] = field(default_factory=dict)
    segments: dict[int, bytes] = field(default_factory=dict)  # fetched whole (no parts listed)
    part_arrival: dict[tuple[int, int], float] = field(default_factory=dict)
    init: bytes = b""
    playlists: list[ParsedPlaylist] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def _url(self, uri: str) -> str:
        return self.media_url.rsplit("/", 1)[0] + "/" + uri

    async def run(self, deadline_s: float) -> ParsedPlaylist:
        stop = time.monotonic() + deadline_s
        res = await self.client.get(self.media_url)
        res.raise_for_status()
        pl = parse_playlist(res.text)
        self.init = (await self.client.get(self._url("init.mp4"))).content
        while time.monotonic() < stop:
            self.playlists.append(pl)
            for msn, idx, uri, _ in pl.parts:
                if (msn, idx) not in self.parts:
                    r = await self.client.get(self._url(uri))
                    if r.status_code != 200:
                        self.errors.append(f"{uri}: {r.status_code}")
                        continue
                    self.parts[(msn, idx)] = r.content
                    self.part_arrival[(msn, idx)] = time.time()
            if pl.ended:
                # an ended playlist lists no parts: fetch whole any segment not held in parts
                last_held = max((msn for msn, _ in self.parts), default=-1)
                for msn, uri, _ in pl.segments:
                    if msn < last_held:
                        continue
                    r = await self.client.get(self._url(uri))
                    r.raise_for_status()
                    held = b"".join(self.parts[k] for k in sorted(self.parts) if k[0] == msn)
                    if held != r.content:  # some parts of it were never listed while live
                        for k in [k for k in self.parts if k[0] == msn]:
                            del self.parts[k]
                        self.segments[msn] = r.content
                return pl
            if pl.parts:
                msn, idx = pl.parts[-1][0], pl.parts[-1][1] + 1
            else:
                msn, idx = pl.media_sequence, 0
            r = await self.client.get(self.media_url,
                                      params={"_HLS_msn": msn, "_HLS_part": idx})
            if r.status_code == 503:
                await asyncio.sleep(0.2)
                continue
            if r.status_code != 200:
                self.errors.append(f"playlist: {r.status_code} {r.text}")
                await asyncio.sleep(0.2)
                continue
            pl = parse_playlist(r.text)
        raise TimeoutError("the playlist did not end in time")

    def ordered_bytes(self) -> bytes:
        chunks = [((msn, idx), data) for (msn, idx), data in self.parts.items()]
        chunks += [((msn, -1), data) for msn, data in self.segments.items()]
        return b"".join(data for _, data in sorted(chunks))


def decode(blob: bytes) -> tuple[npt.NDArray[np.float32], int]:
    """Decode an fMP4 (init + fragments) to mono float PCM; returns (pcm, sample rate)."""
    with av.open(io.BytesIO(blob), mode="r") as c:
        rate = c.streams.audio[0].sample_rate
        chunks = [f.to_ndarray().reshape(-1) for f in c.decode(audio=0)]
    pcm = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return pcm, rate


def access_units(blob: bytes) -> list[bytes]:
    """The AAC access units of an MP4 (fragmented or progressive), as PyAV demuxes them."""
    with av.open(io.BytesIO(blob), mode="r") as c:
        return [bytes(p) for p in c.demux(audio=0) if p.size]

"""Glass-to-glass latency of a townhall live space: LL-HLS vs. plain HLS, same run.

Everything runs in one process against a real `townhall serve` on loopback, so the pusher and
both players read one clock (`time.time()`, which is also the clock the server stamps into
EXT-X-PROGRAM-DATE-TIME).

Pusher: a raw TCP `PUT /ingest/<id>` (Basic `source:<key>`, chunked) carrying a WAV stream
(pcm_s16le, 48 kHz mono, header with an open-ended 0xFFFFFFFF size), paced in real time in
20 ms chunks: silence, and every `--beeps-every` seconds a 100 ms 1 kHz beep that starts on a
chunk boundary. The push time of a beep is the wall time at which the chunk holding its first
sample was written to the socket.

Players decode what they fetch with PyAV (init.mp4 + fragment demuxed, one AAC decoder kept
across fragments as a real player does) and find each beep onset (first sample above a
threshold after >= 300 ms of quiet) on the media timeline (tfdt-based pts).

- LL-HLS player: loads media.m3u8, waits for the hinted part with a blocking reload, then starts
  PART-HOLD-BACK behind the end of that playlist (so it joins right after a publication: the
  best case; a viewer joining at a random moment adds 0..1 part, 0.16 s on average). It then
  fetches the preload-hinted part (held by the server until published) together with a
  blocking reload `?_HLS_msn=M&_HLS_part=P` for that part, and fetches any listed part it missed.
- Plain HLS player: ignores every LL-HLS tag. Loads media.m3u8, starts HOLD-BACK = 3 target
  durations behind the end of the last complete segment, then reloads the playlist (no
  blocking) every target duration and fetches new whole segments (seg/N.m4s).

Playback model (per player): playback starts at wall time T0 (when the first buffer has
arrived) at media position S (live edge - hold back); media time t then plays at
T0 + shift + (t - S). A part/segment that arrives after its own scheduled start stalls the
player: `shift` grows by the lateness (as a real player rebuffers; latency does not come back)
and the stall is reported. For each beep:

- delivery latency = arrival time of the part/segment holding the onset - push time;
- glass-to-glass   = audible time of the onset under the playback model - push time.

Breakdown (via EXT-X-PROGRAM-DATE-TIME, which the server derives from its program clock):
push -> program (ingest, decoder, jitter prebuffer, 1 AAC frame of encoder delay), program ->
published (rest of the part/segment still to be filled), published -> arrived (HTTP, blocking
reload or polling), arrived -> audible (player hold back buffer).

Target: glass-to-glass under 2 s with LL-HLS. Outputs bench/out/glass_to_glass.{png,json}.
Run: .venv/bin/python bench/glass_to_glass.py --seconds 40
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import re
import struct
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import numpy.typing as npt

from harness.server import Server, start_server, stop_server
from townhall.loadtest.player import start_index

ROOT = Path(__file__).resolve().parent.parent

OUT_DIR = ROOT / "bench" / "out"
RATE = 48000
CHUNK_S = 0.02
CHUNK = int(RATE * CHUNK_S)
BEEP_S = 0.1
BEEP_HZ = 1000.0
BEEP_AMP = 0.5
ONSET_LEVEL = 0.15  # |sample| that marks a beep onset (AAC pre-echo stays near 0.05)
QUIET_LEVEL = 0.01
REARM_S = 0.3  # quiet needed before the next onset counts
WIN = 32  # samples per detection window
TARGET_G2G_S = 2.0
DRAIN_MAX_S = 20.0  # after the last beep, how long players may take to hear it
now = time.time


# --- playlist ---


@dataclass
class PartRef:
    msn: int
    index: int
    duration: float
    uri: str


@dataclass
class SegRef:
    msn: int
    duration: float
    uri: str


@dataclass
class Playlist:
    target: float = 0.0
    part_target: float | None = None
    part_hold_back: float | None = None
    parts: list[PartRef] = field(default_factory=list)
    segments: list[SegRef] = field(default_factory=list)
    pdt: dict[int, float] = field(default_factory=dict)
    hint: PartRef | None = None
    ended: bool = False


PART_URI = re.compile(r"part/(\d+)\.(\d+)\.m4s")
SEG_URI = re.compile(r"seg/(\d+)\.m4s")


def _attr(line: str, name: str) -> str | None:
    m = re.search(rf'(?:^|[:,]){name}=("[^"]*"|[^,]*)', line)
    return m.group(1).strip('"') if m else None


def parse_playlist(text: str) -> Playlist:
    pl = Playlist()
    msn = 0
    pending: float | None = None
    for line in text.splitlines():
        if line.startswith("#EXT-X-TARGETDURATION:"):
            pl.target = float(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-PART-INF:"):
            pl.part_target = float(_attr(line, "PART-TARGET") or 0)
        elif line.startswith("#EXT-X-SERVER-CONTROL:"):
            phb = _attr(line, "PART-HOLD-BACK")
            pl.part_hold_back = float(phb) if phb else None
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pl.pdt[msn] = datetime.fromisoformat(line.split(":", 1)[1]).timestamp()
        elif line.startswith("#EXT-X-PART:"):
            uri = _attr(line, "URI") or ""
            m = PART_URI.search(uri)
            if m:
                pl.parts.append(PartRef(int(m.group(1)), int(m.group(2)),
                                        float(_attr(line, "DURATION") or 0), uri))
        elif line.startswith("#EXT-X-PRELOAD-HINT:"):
            uri = _attr(line, "URI") or ""
            m = PART_URI.search(uri)
            if m:
                pl.hint = PartRef(int(m.group(1)), int(m.group(2)), 0.0, uri)
        elif line.startswith("#EXTINF:"):
            pending = float(line.split(":", 1)[1].split(",")[0])
        elif line.startswith("#EXT-X-ENDLIST"):
            pl.ended = True
        elif line and not line.startswith("#") and pending is not None:
            m = SEG_URI.search(line)
            pl.segments.append(SegRef(int(m.group(1)) if m else msn, pending, line))
            pending = None
            msn += 1
    return pl


# --- pusher ---


def wav_header() -> bytes:
    """A streaming WAV head: RIFF and data sizes left open (0xFFFFFFFF), as live tools do."""
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF))


def beep_pcm() -> npt.NDArray[np.int16]:
    t = np.arange(int(RATE * BEEP_S)) / RATE
    return (BEEP_AMP * 32767 * np.sin(2 * np.pi * BEEP_HZ * t)).astype(np.int16)


@dataclass
class PushLog:
    beeps: list[float] = field(default_factory=list)  # wall time of each beep's first sample
    started: float = 0.0
    measure_start: float | None = None
    measure_end: float | None = None
    seconds_sent: float = 0.0
    max_late_s: float = 0.0  # worst lateness of a write against its real-time schedule
    late_writes: int = 0  # writes more than 10 ms behind schedule
    response: str = ""
    all_sent: bool = False


class Pusher:
    def __init__(self, server: Server, space: dict[str, Any], *, seconds: float,
                 every: float) -> None:
        self.server = server
        self.space = space
        self.seconds = seconds
        self.every = every
        self.log = PushLog()
        self.players_ready = asyncio.Event()
        self.stop = asyncio.Event()

    async def run(self, hard_deadline: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.server.ingest_port)
        auth = base64.b64encode(f"source:{self.space['host_key']}".encode()).decode()
        head = (f"PUT /ingest/{self.space['id']} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{self.server.ingest_port}\r\n"
                f"Authorization: Basic {auth}\r\nContent-Type: audio/wav\r\n"
                "Transfer-Encoding: chunked\r\nUser-Agent: townhall-bench\r\n\r\n")
        writer.write(head.encode())
        beep = beep_pcm()
        silence = np.zeros(CHUNK, dtype=np.int16)
        pending = wav_header()
        beep_pos: int | None = None  # samples of the current beep already sent
        next_beep: float | None = None
        t0 = now()
        self.log.started = t0
        k = 0
        try:
            while not self.stop.is_set() and now() < hard_deadline:
                due = t0 + k * CHUNK_S
                wait = due - now()
                if wait > 0:
                    await asyncio.sleep(wait)
                late = now() - due
                self.log.max_late_s = max(self.log.max_late_s, late)
                self.log.late_writes += late > 0.01
                if self.players_ready.is_set() and self.log.measure_start is None:
                    self.log.measure_start = now()
                    self.log.measure_end = self.log.measure_start + self.seconds
                    next_beep = self.log.measure_start + 1.0
                chunk = silence
                starting = False
                if beep_pos is None and next_beep is not None and now() >= next_beep:
                    assert self.log.measure_end is not None
                    if now() < self.log.measure_end:
                        beep_pos, starting = 0, True
                        next_beep += self.every
                    else:
                        next_beep = None
                        self.log.all_sent = True
                if beep_pos is not None:
                    chunk = silence.copy()
                    part = beep[beep_pos:beep_pos + CHUNK]
                    chunk[:len(part)] = part
                    beep_pos += CHUNK
                    if beep_pos >= len(beep):
                        beep_pos = None
                body = pending + chunk.tobytes()
                pending = b""
                writer.write(f"{len(body):X}\r\n".encode() + body + b"\r\n")
                if starting:
                    self.log.beeps.append(now())
                await writer.drain()
                k += 1
                self.log.seconds_sent = k * CHUNK_S
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(65536), 15)
            self.log.response = raw.decode(errors="replace").split("\r\n\r\n", 1)[-1]
        finally:
            writer.close()


# --- players ---


@dataclass
class Onset:
    media: float  # seconds on the media timeline
    arrival: float  # wall time the part/segment holding it arrived
    audible: float  # wall time it is heard under the playback model
    offset_in_fetch: float  # seconds into the part/segment
    program_wall: float | None  # EXT-X-PROGRAM-DATE-TIME time of the onset
    published_wall: float | None  # PDT time of the part/segment end: when it was published
    stalled: bool


@dataclass
class Fetched:
    msn: int
    data: bytes
    arrival: float
    index: int | None = None  # part index; None for a whole segment


class Player:
    """Decodes fetched fragments, keeps the playback clock, detects beep onsets."""

    def __init__(self, name: str, base: str, client: httpx.AsyncClient) -> None:
        self.name = name
        self.base = base
        self.client = client
        self.init = b""
        self.ctx: av.AudioCodecContext | None = None
        self.t0: float | None = None
        self.start_media = 0.0
        self.hold_back = 0.0
        self.shift = 0.0
        self.stalls: list[tuple[float, float]] = []  # (wall time, seconds)
        self.onsets: list[Onset] = []
        self.media_end = 0.0
        self.wall_base: float | None = None  # PDT wall time of media time 0
        self.join_edge_age: float | None = None  # how old the live edge was when playing began
        self.playlist: Playlist = Playlist()
        self.fetches = 0
        self.errors: list[str] = []
        self._armed = False
        self._quiet = 0
        self.ready = asyncio.Event()
        self.done = asyncio.Event()

    async def load(self, query: str = "") -> Playlist:
        r = await self.client.get(f"{self.base}/media.m3u8{query}")
        r.raise_for_status()
        self.playlist = parse_playlist(r.text)
        return self.playlist

    async def get(self, uri: str) -> bytes | None:
        r = await self.client.get(f"{self.base}/{uri}")
        self.fetches += 1
        if r.status_code != 200:
            self.errors.append(f"{uri}: {r.status_code}")
            return None
        return r.content

    async def get_init(self) -> None:
        data = await self.get("init.mp4")
        if data is None:
            raise RuntimeError("no init.mp4")
        self.init = data

    def _decode(self, data: bytes) -> list[tuple[float, npt.NDArray[np.float32]]]:
        out: list[tuple[float, npt.NDArray[np.float32]]] = []
        with av.open(io.BytesIO(self.init + data), mode="r") as c:
            stream = c.streams.audio[0]
            if self.ctx is None:
                ctx = av.CodecContext.create("aac", "r")
                assert isinstance(ctx, av.AudioCodecContext)
                ctx.extradata = stream.codec_context.extradata
                ctx.sample_rate = RATE
                self.ctx = ctx
            tb = float(stream.time_base or 1 / RATE)
            for pkt in c.demux(stream):
                if pkt.size == 0 or pkt.pts is None:
                    continue
                for frame in self.ctx.decode(pkt):
                    pcm = np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)
                    out.append((pkt.pts * tb, pcm))
        return out

    def _set_wall_base(self, f: Fetched, p0: float) -> None:
        pl = self.playlist
        if f.msn not in pl.pdt:
            return
        before = 0.0
        if f.index is not None:
            durs = [p.duration for p in pl.parts if p.msn == f.msn]
            if len(durs) < f.index:
                return
            before = sum(durs[:f.index])
        self.wall_base = pl.pdt[f.msn] - (p0 - before)

    def start(self, buffered: list[Fetched]) -> None:
        """Start playing `hold_back` behind the end of the first fetched fragments."""
        if not buffered:
            raise RuntimeError(f"{self.name}: nothing fetched to start from")
        decoded = [self._decode(f.data) for f in buffered]
        last, frames = buffered[-1], decoded[-1]
        edge = frames[-1][0] + len(frames[-1][1]) / RATE
        self._set_wall_base(last, frames[0][0])
        self.t0 = now()
        self.start_media = max(0.0, edge - self.hold_back)
        if self.wall_base is not None:
            self.join_edge_age = self.t0 - (self.wall_base + edge)
        for f, fr in zip(buffered, decoded, strict=True):
            self.feed(f, fr)
        self.ready.set()

    def feed(self, f: Fetched,
             frames: list[tuple[float, npt.NDArray[np.float32]]] | None = None) -> None:
        """Play one fetched fragment (decoded here unless `frames` is given)."""
        frames = self._decode(f.data) if frames is None else frames
        if not frames:
            return
        p0 = frames[0][0]
        p1 = frames[-1][0] + len(frames[-1][1]) / RATE
        self._set_wall_base(f, p0)
        self.media_end = max(self.media_end, p1)
        stalled = False
        if self.t0 is not None and p1 > self.start_media:
            scheduled = self.t0 + self.shift + (max(p0, self.start_media) - self.start_media)
            if f.arrival > scheduled + 0.001:
                late = f.arrival - scheduled
                self.shift += late
                self.stalls.append((f.arrival, late))
                stalled = True
        published = None if self.wall_base is None else self.wall_base + p1
        for start, pcm in frames:
            for onset in self._detect(start, pcm):
                if self.t0 is None or onset < self.start_media:
                    continue
                self.onsets.append(Onset(
                    media=onset, arrival=f.arrival,
                    audible=self.t0 + self.shift + (onset - self.start_media),
                    offset_in_fetch=onset - p0,
                    program_wall=None if self.wall_base is None else self.wall_base + onset,
                    published_wall=published, stalled=stalled))

    def _detect(self, start: float, pcm: npt.NDArray[np.float32]) -> list[float]:
        found: list[float] = []
        for w in range(0, len(pcm) - WIN + 1, WIN):
            block = pcm[w:w + WIN]
            peak = float(np.abs(block).max())
            if self._armed and peak >= ONSET_LEVEL:
                first = int(np.argmax(np.abs(block) >= ONSET_LEVEL))
                found.append(start + (w + first) / RATE)
                self._armed = False
                self._quiet = 0
            elif peak < QUIET_LEVEL:
                self._quiet += WIN
                if self._quiet >= REARM_S * RATE:
                    self._armed = True
            else:
                self._quiet = 0
        return found

    def heard_up_to(self) -> float | None:
        """PDT wall time of the end of the decoded media."""
        return None if self.wall_base is None else self.wall_base + self.media_end


async def run_ll(p: Player, pusher: Pusher, deadline: float) -> None:
    pl = await p.load()
    await p.get_init()
    if pl.part_hold_back is None or pl.hint is None:
        raise RuntimeError("the playlist has no LL-HLS tags")
    p.hold_back = pl.part_hold_back
    # join right after a publication: wait for the hinted part with a blocking reload
    pl = await p.load(f"?_HLS_msn={pl.hint.msn}&_HLS_part={pl.hint.index}")
    first = start_index([x.duration for x in pl.parts], p.hold_back)
    buffered: list[Fetched] = []
    for ref in pl.parts[first:]:
        data = await p.get(ref.uri)
        if data is not None:
            buffered.append(Fetched(ref.msn, data, now(), ref.index))
    have = (pl.parts[-1].msn, pl.parts[-1].index)
    p.start(buffered)
    while now() < deadline and not p.done.is_set():
        # catch up on any listed part we do not have (e.g. a hinted fetch that failed)
        for ref in p.playlist.parts:
            if (ref.msn, ref.index) > have:
                data = await p.get(ref.uri)
                if data is None:
                    continue
                p.feed(Fetched(ref.msn, data, now(), ref.index))
                have = (ref.msn, ref.index)
        hint = p.playlist.hint
        if hint is None or p.playlist.ended:
            break
        part_task = asyncio.create_task(p.get(hint.uri))
        pl_task = asyncio.create_task(p.load(f"?_HLS_msn={hint.msn}&_HLS_part={hint.index}"))
        got: bytes | None = None
        try:
            got = await part_task
            arrival = now()
            await pl_task
        except httpx.HTTPError as exc:
            p.errors.append(f"around part {hint.msn}.{hint.index}: {exc!r}")
            await asyncio.gather(part_task, pl_task, return_exceptions=True)
            await asyncio.sleep(0.1)
            continue
        if got is not None and (hint.msn, hint.index) > have:
            p.feed(Fetched(hint.msn, got, arrival, hint.index))
            have = (hint.msn, hint.index)
        _check_done(p, pusher)


async def run_plain(p: Player, pusher: Pusher, deadline: float) -> None:
    pl = await p.load()
    await p.get_init()
    p.hold_back = 3 * pl.target  # HOLD-BACK default: three target durations
    segs = pl.segments
    if not segs:
        raise RuntimeError("no complete segment yet")
    first = start_index([s.duration for s in segs], p.hold_back)
    if sum(s.duration for s in segs[first:]) < p.hold_back:
        p.errors.append("joined with less than HOLD-BACK of media listed")
    buffered: list[Fetched] = []
    for ref in segs[first:]:
        data = await p.get(ref.uri)
        if data is not None:
            buffered.append(Fetched(ref.msn, data, now()))
    have = segs[-1].msn
    p.start(buffered)
    polled = now()
    while now() < deadline and not p.done.is_set():
        await asyncio.sleep(max(0.0, polled + pl.target - now()))
        polled = now()
        try:
            pl = await p.load()
        except httpx.HTTPError as exc:
            p.errors.append(f"playlist: {exc!r}")
            continue
        for ref in pl.segments:
            if ref.msn > have:
                data = await p.get(ref.uri)
                if data is None:
                    continue
                p.feed(Fetched(ref.msn, data, now()))
                have = ref.msn
        _check_done(p, pusher)


def _check_done(p: Player, pusher: Pusher) -> None:
    heard = p.heard_up_to()
    beeps = pusher.log.beeps
    if pusher.log.all_sent and beeps and heard is not None and heard > beeps[-1] + 1.0:
        p.done.set()


# --- analysis ---


def match_beeps(onsets: list[Onset], pushes: list[float],
                every: float) -> tuple[list[dict[str, Any]], int]:
    """Pair each onset with the beep pushed just before its PDT time; (rows, unmatched)."""
    rows: dict[int, dict[str, Any]] = {}
    unmatched = 0
    for o in onsets:
        ref = o.program_wall if o.program_wall is not None else o.arrival
        cands = [i for i, t in enumerate(pushes) if t <= ref + 0.05 and ref - t < every - 0.2]
        if not cands or cands[-1] in rows:
            unmatched += 1
            continue
        i = cands[-1]
        push = pushes[i]
        row: dict[str, Any] = {
            "beep": i, "push": push, "media": o.media, "arrival": o.arrival,
            "audible": o.audible, "delivery_s": o.arrival - push, "g2g_s": o.audible - push,
            "offset_in_fetch_s": o.offset_in_fetch, "stalled": o.stalled}
        if o.program_wall is not None and o.published_wall is not None:
            row.update({
                "push_to_program_s": o.program_wall - push,
                "program_to_published_s": o.published_wall - o.program_wall,
                "published_to_arrival_s": o.arrival - o.published_wall,
                "arrival_to_audible_s": o.audible - o.arrival})
        rows[i] = row
    return [rows[i] for i in sorted(rows)], unmatched


def stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p95": None, "max": None, "min": None}
    a = np.asarray(values)
    return {"median": float(np.median(a)), "p95": float(np.percentile(a, 95)),
            "max": float(a.max()), "min": float(a.min())}


def summarize(p: Player, rows: list[dict[str, Any]], sent: int,
              unmatched: int) -> dict[str, Any]:
    keys = ["push_to_program_s", "program_to_published_s", "published_to_arrival_s",
            "arrival_to_audible_s"]
    return {
        "player": p.name, "hold_back_s": p.hold_back, "beeps_sent": sent,
        "beeps_detected": len(rows), "unmatched_onsets": unmatched,
        "delivery_s": stats([r["delivery_s"] for r in rows]),
        "g2g_s": stats([r["g2g_s"] for r in rows]),
        "breakdown_median_s": {k: stats([r[k] for r in rows if k in r])["median"]
                               for k in keys},
        "stalls": [{"at": t, "seconds": s} for t, s in p.stalls],
        "join_edge_age_s": p.join_edge_age, "fetches": p.fetches, "errors": p.errors[:20],
    }


def _fmt(v: float | None) -> str:
    return "   n/a" if v is None else f"{v:6.3f}"


def report(ll: dict[str, Any], plain: dict[str, Any]) -> list[str]:
    cols = f"{'median':>6} {'p95':>6} {'max':>6}"
    lines = [f"{'':24}{'LL-HLS':^20}   {'plain HLS':^20}   plain/LL",
             f"{'':24}{cols}   {cols}   (median)"]
    for key, label in (("delivery_s", "delivery latency (s)"), ("g2g_s", "glass-to-glass (s)")):
        a, b = ll[key], plain[key]
        ratio = (b["median"] / a["median"]) if a["median"] and b["median"] else None
        lines.append(f"{label:24}{_fmt(a['median'])} {_fmt(a['p95'])} {_fmt(a['max'])}   "
                     f"{_fmt(b['median'])} {_fmt(b['p95'])} {_fmt(b['max'])}   "
                     + (f"x{ratio:.1f}" if ratio else "n/a"))
    for s in (ll, plain):
        lines.append(f"{s['player']:>9}: {s['beeps_detected']}/{s['beeps_sent']} beeps detected, "
                     f"{s['unmatched_onsets']} unmatched onsets, {len(s['stalls'])} stalls, "
                     f"hold back {s['hold_back_s']:.2f} s, join edge age "
                     f"{_fmt(s['join_edge_age_s']).strip()} s")
        b = s["breakdown_median_s"]
        lines.append(f"{'':11}median breakdown: push->program {_fmt(b['push_to_program_s'])}, "
                     f"program->published {_fmt(b['program_to_published_s'])}, "
                     f"published->arrived {_fmt(b['published_to_arrival_s'])}, "
                     f"arrived->audible {_fmt(b['arrival_to_audible_s'])}")
    g = ll["g2g_s"]
    ok = g["p95"] is not None and g["p95"] < TARGET_G2G_S and ll["beeps_detected"] > 0
    lines.append(f"target: LL-HLS glass-to-glass under {TARGET_G2G_S:g} s (p95): "
                 + ("MET" if ok else "NOT MET"))
    return lines


def plot(path: Path, rows: dict[str, list[dict[str, Any]]], t_ref: float,
         title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(2, 1, figsize=(13, 8), height_ratios=[3, 2])
    styles = {"LL-HLS": "tab:blue", "plain HLS": "tab:orange"}
    for name, rs in rows.items():
        xs = [r["push"] - t_ref for r in rs]
        color = styles.get(name, "k")
        ax.plot(xs, [r["g2g_s"] for r in rs], "o-", color=color,
                label=f"{name}: glass-to-glass")
        ax.plot(xs, [r["delivery_s"] for r in rs], "s--", color=color, alpha=0.6,
                label=f"{name}: delivery (part/segment arrived)")
        for r in rs:
            if r["stalled"]:
                ax.plot(r["push"] - t_ref, r["g2g_s"], "rx", markersize=12)
    ax.axhline(TARGET_G2G_S, color="tab:green", linestyle=":",
               label=f"target {TARGET_G2G_S:g} s (LL-HLS)")
    ax.set_ylabel("latency after push (s)")
    ax.set_xlabel("beep push time (s since first beep)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title, fontsize=10)

    ll = [r for r in rows.get("LL-HLS", []) if "push_to_program_s" in r]
    stages = [("push_to_program_s", "push -> program (ingest, jitter buffer, AAC delay)"),
              ("program_to_published_s", "program -> part published"),
              ("published_to_arrival_s", "published -> arrived (HTTP)"),
              ("arrival_to_audible_s", "arrived -> audible (hold back)")]
    idx = np.arange(len(ll))
    bottom = np.zeros(len(ll))
    for key, label in stages:
        vals = np.array([max(0.0, r[key]) for r in ll])
        bx.bar(idx, vals, bottom=bottom, label=label)
        bottom += vals
    bx.axhline(TARGET_G2G_S, color="tab:green", linestyle=":")
    bx.set_xticks(idx, [str(r["beep"]) for r in ll], fontsize=7)
    bx.set_xlabel("beep #")
    bx.set_ylabel("LL-HLS glass-to-glass (s)")
    bx.set_title("where the LL-HLS latency goes (from EXT-X-PROGRAM-DATE-TIME)", fontsize=10)
    bx.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bx.set_ylim(0, max(TARGET_G2G_S, float(bottom.max()) if len(ll) else 0) * 1.35)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- main ---


async def bench(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    space = server.create_space(title="glass-to-glass bench", host="bench")
    base = server.media_base(space["id"])  # join as a listener: the ticketed media URL
    pusher = Pusher(server, space, seconds=args.seconds, every=args.beeps_every)
    hard_end = now() + args.warmup + args.seconds + DRAIN_MAX_S + 10
    push_task = asyncio.create_task(pusher.run(hard_end))
    timeout = httpx.Timeout(15.0)
    async with httpx.AsyncClient(timeout=timeout) as c1, \
            httpx.AsyncClient(timeout=timeout) as c2:
        ll = Player("LL-HLS", base, c1)
        plain = Player("plain HLS", base, c2)
        # wait for the space to publish, then for enough media for a plain HLS join
        await asyncio.sleep(args.warmup)
        if push_task.done():
            push_task.result()
            raise RuntimeError("the pusher stopped during warm-up")
        deadline = hard_end - 5
        tasks = [asyncio.create_task(run_ll(ll, pusher, deadline)),
                 asyncio.create_task(run_plain(plain, pusher, deadline))]
        await asyncio.wait_for(asyncio.gather(ll.ready.wait(), plain.ready.wait()), 15)
        pusher.players_ready.set()
        try:
            while now() < deadline:
                failed = [t for t in tasks if t.done() and t.exception() is not None]
                if failed:
                    raise failed[0].exception()  # type: ignore[misc]
                measure_end = pusher.log.measure_end
                if ll.done.is_set() and plain.done.is_set():
                    break
                if measure_end is not None and now() > measure_end + DRAIN_MAX_S:
                    break
                await asyncio.sleep(0.2)
        finally:
            pusher.stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.wait_for(push_task, 30)

    pushes = pusher.log.beeps
    results: dict[str, Any] = {"players": {}, "rows": {}}
    for p in (ll, plain):
        rows, unmatched = match_beeps(p.onsets, pushes, args.beeps_every)
        results["rows"][p.name] = rows
        results["players"][p.name] = summarize(p, rows, len(pushes), unmatched)
    pl = ll.playlist
    results["server"] = {"part_target_s": pl.part_target, "part_hold_back_s": pl.part_hold_back,
                         "target_duration_s": pl.target,
                         "segment_s": max((s.duration for s in pl.segments), default=None)}
    results["push"] = asdict(pusher.log)
    results["config"] = {"seconds": args.seconds, "beeps_every_s": args.beeps_every,
                         "warmup_s": args.warmup, "chunk_s": CHUNK_S, "beep_s": BEEP_S,
                         "beep_hz": BEEP_HZ, "format": "wav pcm_s16le 48 kHz mono, chunked PUT"}
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--seconds", type=float, default=60.0,
                    help="how long beeps are pushed (warm-up and drain come on top)")
    ap.add_argument("--beeps-every", type=float, default=3.0, help="seconds between beeps")
    ap.add_argument("--warmup", type=float, default=10.0,
                    help="seconds pushed before the players join (plain HLS needs 3 target "
                         "durations listed)")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()
    if args.beeps_every < 1.0 or args.seconds <= 1.0:
        ap.error("need --beeps-every >= 1 and --seconds > 1")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"glass-to-glass: warm-up {args.warmup:g} s, beeps every {args.beeps_every:g} s for "
          f"{args.seconds:g} s, then up to {DRAIN_MAX_S:g} s drain", flush=True)
    with tempfile.TemporaryDirectory(prefix="townhall-g2g-") as tmp:
        server = start_server(Path(tmp) / "data")
        try:
            results = asyncio.run(bench(server, args))
        finally:
            stop_server(server)
            log = server.log().strip()
            if log:
                print("server log (tail):\n" + "\n".join(log.splitlines()[-15:]))
    srv = results["server"]
    title = (f"townhall glass-to-glass, part {srv['part_target_s']} s, PART-HOLD-BACK "
             f"{srv['part_hold_back_s']} s, segment {srv['segment_s']} s, "
             f"beeps every {args.beeps_every:g} s")
    lines = report(results["players"]["LL-HLS"], results["players"]["plain HLS"])
    push = results["push"]
    lines.append(f"pusher: {len(push['beeps'])} beeps, {push['seconds_sent']:.1f} s of audio, "
                 f"worst write lateness {push['max_late_s'] * 1000:.1f} ms "
                 f"({push['late_writes']} writes > 10 ms late); ingest answered "
                 f"{push['response'].strip()[:160]}")
    results["report"] = lines
    (args.out / "glass_to_glass.json").write_text(json.dumps(results, indent=2))
    first = push["beeps"][0] if push["beeps"] else push["started"]
    plot(args.out / "glass_to_glass.png", results["rows"], first, title)
    print(title)
    print("\n".join(lines))
    print(f"wrote {args.out / 'glass_to_glass.json'} and {args.out / 'glass_to_glass.png'}")
    ll = results["players"]["LL-HLS"]
    return 0 if ll["beeps_detected"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())

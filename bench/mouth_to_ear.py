"""Speakers on stage: mouth-to-ear latency between two speakers, and the mix's CPU per speaker.

Everything runs against a real `townhall serve` on loopback (`harness.server.start_server`,
ICE host candidates on 127.0.0.1). The speakers are aiortc WHIP clients in this process
(`harness/whip_client.py`), so both ends read one monotonic clock.

Mouth-to-ear: speaker A (host key) publishes silence and, every `--every` s, a 100 ms 1 kHz
beep; speaker B (speaker token) publishes silence and records what the server sends back to it
(its mix-minus: everyone but B, here A). "Mouth" is the moment A's track hands the first beep
frame to its Opus encoder; "ear" is the moment B's decoder outputs the beep's first sample
(the arrival of the decoded frame holding it, less the samples after the onset). In between:
A's Opus encoding and RTP (loopback), the server's aiortc jitter buffer and decoder, the
speaker's shallow mixer buffer (`speaker_prebuffer_ms`), the program clock's 1024-sample tick,
B's outgoing 20 ms frame queue, Opus encoding, and B's aiortc jitter buffer and decoder. Not
included: a real microphone's capture buffer and a browser's playout buffer (tens of ms each).

CPU: for 1, 4 and 8 speakers (`--speakers`) in a fresh space, each publishing a tone, the
server process's CPU time (utime + stime from /proc) over `--window` s after a warm-up. The
slope of a straight line through the points is the cost of one more speaker (decode, mixer
source, mix-minus, Opus encode, SRTP both ways); the intercept is the program itself (clock,
AAC encoder, packager). Client-side CPU (this process) is reported apart.

Outputs bench/out/mouth_to_ear.{png,json}. Run: .venv/bin/python bench/mouth_to_ear.py
(about 60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from harness.server import Server, start_server, stop_server
from harness.whip_client import RATE, WhipClient

ROOT = Path(__file__).resolve().parent.parent

OUT_DIR = ROOT / "bench" / "out"
BEEP_HZ = 1000.0
BEEP_FRAMES = 5  # 100 ms
ONSET_LEVEL = 0.05  # |sample| marking the onset (the beep arrives at about 0.35)
TICK = os.sysconf("SC_CLK_TCK")


def invite(server: Server, space: dict[str, Any], name: str) -> str:
    res = httpx.post(f"{server.base_url}/api/spaces/{space['id']}/speakers",
                     json={"name": name},
                     headers={"Authorization": f"Bearer {space['host_key']}"}, timeout=10)
    res.raise_for_status()
    token: str = res.json()["token"]
    return token


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15)


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def onset(client: WhipClient, after: float, within: float = 2.0) -> float | None:
    """When the first beep sample after `after` came out of the client's decoder."""
    for arrived, pcm in client.heard:
        if arrived <= after or arrived > after + within:
            continue
        loud = np.flatnonzero(np.abs(pcm) > ONSET_LEVEL)
        if len(loud):
            return arrived - (len(pcm) - int(loud[0])) / RATE
    return None


async def mouth_to_ear(server: Server, beeps: int, every: float,
                       client_prefetch: int | None) -> list[float]:
    space = server.create_space(title="Latency", host="A")
    a = WhipClient(server.base_url, space["id"], space["host_key"], BEEP_HZ, steady=False)
    b = WhipClient(server.base_url, space["id"], invite(server, space, "B"), 0, steady=False,
                   receive_prefetch=client_prefetch)
    await asyncio.gather(a.publish(), b.publish())
    await asyncio.gather(a.wait_connected(), b.wait_connected())
    await asyncio.sleep(2.0)  # let the jitter buffers settle
    assert a.track is not None
    latencies = []
    for i in range(beeps):
        a.track.beep(BEEP_FRAMES)
        await asyncio.sleep(every)
        sent = a.track.beep_sent_at
        heard = onset(b, sent) if sent is not None else None
        if sent is None or heard is None:
            print(f"  beep {i + 1}: not heard", flush=True)
            continue
        latencies.append(heard - sent)
        print(f"  beep {i + 1}: {1000 * (heard - sent):.0f} ms", flush=True)
    await a.delete()
    await b.delete()
    return latencies


async def cpu_with(server: Server, speakers: int, warmup: float, window: float
                   ) -> dict[str, float]:
    space = server.create_space(title=f"{speakers} speakers", host="S0")
    tokens = [space["host_key"]] + [invite(server, space, f"S{i}") for i in range(1, speakers)]
    clients = [WhipClient(server.base_url, space["id"], tok, 300 + 70 * i)
               for i, tok in enumerate(tokens)]
    await asyncio.gather(*(c.publish() for c in clients))
    await asyncio.gather(*(c.wait_connected() for c in clients))
    await asyncio.sleep(warmup)
    pid = server.process.pid
    s0, c0, t0 = process_cpu_s(pid), own_cpu_s(), time.monotonic()
    await asyncio.sleep(window)
    s1, c1, t1 = process_cpu_s(pid), own_cpu_s(), time.monotonic()
    heard = sum(1 for c in clients if c.recent(0.5).size and np.abs(c.recent(0.5)).max() > 0.05)
    for c in clients:
        await c.delete()
    await asyncio.sleep(1.0)
    row = {"speakers": speakers, "server_cpu_pct": 100 * (s1 - s0) / (t1 - t0),
           "clients_cpu_pct": 100 * (c1 - c0) / (t1 - t0), "hearing_others": heard}
    print(f"  {speakers} speakers: server {row['server_cpu_pct']:.1f}% of a core, "
          f"clients {row['clients_cpu_pct']:.1f}%, {heard}/{speakers} hear the others",
          flush=True)
    return row


def plot(latencies: list[float], rows: list[dict[str, float]], fit: tuple[float, float],
         path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ms = [1000 * x for x in latencies]
    ax1.plot(range(1, len(ms) + 1), ms, "o-", color="#c2410c")
    if ms:
        ax1.axhline(statistics.median(ms), color="#374151", ls="--",
                    label=f"median {statistics.median(ms):.0f} ms")
        ax1.legend()
    ax1.set_xlabel("beep")
    ax1.set_ylabel("mouth-to-ear (ms)")
    ax1.set_title("Speaker A -> speaker B (aiortc both ends)")
    ax1.set_ylim(bottom=0)
    xs = [r["speakers"] for r in rows]
    ax2.plot(xs, [r["server_cpu_pct"] for r in rows], "o", color="#c2410c", label="server")
    ax2.plot(xs, [r["clients_cpu_pct"] for r in rows], "s", color="#9ca3af",
             label="test clients")
    slope, intercept = fit
    line = np.linspace(0, max(xs), 20)
    ax2.plot(line, intercept + slope * line, "--", color="#374151",
             label=f"{slope:.1f}% per speaker + {intercept:.1f}%")
    ax2.set_xlabel("speakers live")
    ax2.set_ylabel("CPU (% of one core)")
    ax2.set_title("Server CPU with N speakers")
    ax2.set_xlim(left=0)
    ax2.set_ylim(bottom=0)
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


async def run(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    print("mouth-to-ear:", flush=True)
    latencies = await mouth_to_ear(server, args.beeps, args.every, args.client_prefetch)
    print("CPU:", flush=True)
    rows = [await cpu_with(server, n, args.warmup, args.window) for n in args.speakers]
    xs = np.array([r["speakers"] for r in rows], dtype=float)
    ys = np.array([r["server_cpu_pct"] for r in rows])
    slope, intercept = (np.polyfit(xs, ys, 1) if len(rows) > 1 else (ys[0], 0.0))
    ms = sorted(1000 * x for x in latencies)
    summary = {
        "beeps_heard": len(ms), "beeps_sent": args.beeps,
        "mouth_to_ear_ms": {"median": statistics.median(ms), "min": ms[0], "max": ms[-1],
                            "p90": ms[min(len(ms) - 1, int(0.9 * len(ms)))]} if ms else None,
        "cpu_pct_per_speaker": float(slope), "cpu_pct_program": float(intercept),
    }
    return {"summary": summary, "latencies_s": latencies, "cpu": rows,
            "fit": (float(slope), float(intercept))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--beeps", type=int, default=15)
    ap.add_argument("--every", type=float, default=1.0, help="seconds between beeps")
    ap.add_argument("--client-prefetch", type=int, default=None,
                    help="packets B's aiortc holds before decoding (default: aiortc's 4; "
                         "1 models a browser's adaptive buffer on loopback)")
    ap.add_argument("--speakers", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--window", type=float, default=6.0, help="CPU measurement, seconds")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="townhall-m2e-") as tmp:
        server = start_server(Path(tmp) / "data", "--set", "ice_host_addresses=127.0.0.1",
                              "--set", "whip_candidate_networks=127.0.0.0/8")
        try:
            result = asyncio.run(run(server, args))
        finally:
            stop_server(server)
    s = result["summary"]
    (args.out / "mouth_to_ear.json").write_text(json.dumps(result, indent=2))
    plot(result["latencies_s"], result["cpu"], result["fit"], args.out / "mouth_to_ear.png")
    m = s["mouth_to_ear_ms"]
    if m:
        print(f"mouth-to-ear: median {m['median']:.0f} ms, p90 {m['p90']:.0f} ms, "
              f"min {m['min']:.0f}, max {m['max']:.0f} ({s['beeps_heard']}/{s['beeps_sent']} "
              "beeps)")
    print(f"CPU: {s['cpu_pct_per_speaker']:.1f}% of a core per speaker, program "
          f"{s['cpu_pct_program']:.1f}%")
    print(f"wrote {args.out / 'mouth_to_ear.png'} and mouth_to_ear.json")
    return 0 if m else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""How many live programs one origin carries before the listeners of another space stall.

Starts a real `townhall serve` on loopback, puts a flagship space on air (ffmpeg tone) and,
step by step, N other spaces (one pre-encoded 64 kb/s ADTS tone pushed in real time to each,
from this process), then follows the flagship like LL-HLS players for a while and times the
wait between new parts (a part is 0.32 s; a wait over 1.5 s is a stall). The largest N with
no stall is the origin's ceiling, which `live_programs_per_origin` keeps a margin below.
Bounded: each step runs `--seconds`, N stops at `--max`.

    .venv/bin/python bench/live_ceiling.py --steps 10,20,40,80 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from harness.live_load import feed, follow, make_adts
from harness.server import Server, push_tone, start_server, stop_process, stop_server

ROOT = Path(__file__).resolve().parent.parent

UNLIMITED_API = [a for name in ("api_rate_per_address", "api_burst_per_address",
                                 "api_rate_per_network", "api_burst_per_network")
                 for a in ("--set", f"{name}=1000000")]


async def step(server_url: str, ingest_port: int, media_url: str, spaces: list[dict[str, str]],
               audio: bytes, seconds: float, followers: int) -> dict[str, object]:
    feeds = [asyncio.ensure_future(feed(ingest_port, sp["id"], sp["host_key"], audio,
                                        seconds + 20)) for sp in spaces]
    on_air, deadline = 0, time.monotonic() + 15
    async with httpx.AsyncClient(timeout=30) as client:
        while on_air < len(spaces) and time.monotonic() < deadline:  # every program on air
            await asyncio.sleep(1)
            docs = [(await client.get(f"{server_url}/api/spaces/{sp['id']}")).json()
                    for sp in spaces]
            on_air = sum(1 for d in docs if d.get("on_air"))
    results = await asyncio.gather(*[follow(media_url, seconds) for _ in range(followers)])
    statuses = await asyncio.gather(*feeds)
    # a feed the ingest answered 200 at its end was mixed for its whole push: that, not the
    # details polled above (which a loaded origin may shed), is the count of live programs
    return {"live_programs": 1 + statuses.count(200), "on_air_seen": on_air + 1,
            "feeds": dict(Counter(statuses)),
            "parts_expected": int(seconds / 0.32),
            "parts": [r.parts for r in results],
            "longest_gap_s": round(max(r.longest_gap_s for r in results), 2),
            "stalls": sum(len(r.gaps_over) for r in results)}


def create(server: Server, title: str) -> dict[str, str]:
    """A space, retried while the origin sheds writes (it may, right after a heavy step)."""
    for _ in range(60):
        res = httpx.post(f"{server.base_url}/api/spaces", json={"title": title, "host": "b"},
                         headers=server.hosting_headers(), timeout=10)
        if res.status_code == 201:
            doc: dict[str, str] = res.json()
            return doc
        time.sleep(1)
    raise RuntimeError(f"cannot create a space: {res.status_code} {res.text}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="10,20,40,80", help="other live spaces per step")
    ap.add_argument("--seconds", type=float, default=15.0, help="flagship followed per step")
    ap.add_argument("--followers", type=int, default=3)
    args = ap.parse_args()
    steps = [int(n) for n in args.steps.split(",")]
    out: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        audio = make_adts(Path(tmp) / "tone.aac", args.seconds + 10)
        server = start_server(Path(tmp) / "data", "--attack-mode", "off", "--no-tickets",
                              "--set", "live_programs_per_origin=100000",
                              "--set", "spaces_per_hour_per_origin=100000",
                              "--idle-pause", "2", *UNLIMITED_API)
        flagship = server.create_space(title="flagship")
        tone = push_tone(flagship["ingest_url"], 3600)
        try:
            server.wait_on_air(flagship["id"])
            media = f"{server.base_url}/live/{flagship['id']}/media.m3u8"
            for n in steps:
                others = [create(server, f"other {i}") for i in range(n)]
                t0 = time.monotonic()
                res = asyncio.run(step(server.base_url, server.ingest_port, media, others,
                                       audio, args.seconds, args.followers))
                res["wall_s"] = round(time.monotonic() - t0, 1)
                print(json.dumps(res), flush=True)
                out.append(res)
                for sp in others:
                    server.end_space(sp)
                time.sleep(3)
        finally:
            stop_process(tone)
            stop_server(server)
    dest = ROOT / "bench" / "out"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "live_ceiling.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

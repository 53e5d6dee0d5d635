"""Many spaces on air at once, cheaply: one pre-encoded ADTS tone pushed in real time to each
space's ingest from one asyncio loop, and a flagship listener that measures its stalls.

Shared by tests/integration/test_hosting_quotas.py and bench/live_ceiling.py. Loopback only;
every feed and follower stops at its deadline.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.hls_client import parse_playlist

BYTES_PER_S = 64000 // 8


def make_adts(path: Path, seconds: float, freq: int = 330) -> bytes:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f",
                    "lavfi", "-i", f"sine=frequency={freq}:duration={seconds}", "-c:a", "aac",
                    "-b:a", "64k", "-f", "adts", str(path)], check=True)
    return path.read_bytes()


async def feed(port: int, space_id: str, key: str, audio: bytes, seconds: float) -> int:
    """Push `audio` as a chunked PUT, paced at 64 kb/s, for at most `seconds`; returns the
    HTTP status the ingest answered (200 once the body ended, or its refusal)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer: asyncio.Future[bytes] | None = None
    try:
        writer.write(f"PUT /ingest/{space_id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     f"{key}\r\nContent-Type: audio/aac\r\nTransfer-Encoding: chunked\r\n\r\n"
                     .encode())
        answer = asyncio.ensure_future(reader.readline())
        start = time.monotonic()
        sent, chunk = 0, BYTES_PER_S // 10
        while sent < len(audio) and time.monotonic() - start < seconds:
            if answer.done():
                break  # the ingest answered early: refused
            piece = audio[sent:sent + chunk]
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            sent += len(piece)
            await asyncio.sleep(max(0.0, start + sent / BYTES_PER_S - time.monotonic()))
        if not answer.done():
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        head = await asyncio.wait_for(answer, 15)
        return int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    except (ConnectionError, TimeoutError):
        if (answer is not None and answer.done() and not answer.cancelled()
                and answer.exception() is None):
            head = answer.result()
            return int(head.split()[1]) if head.startswith(b"HTTP/") else 0
        return 0
    finally:
        writer.close()


@dataclass
class Stalls:
    parts: int = 0
    longest_gap_s: float = 0.0  # longest wait between two new parts
    gaps_over: list[float] = field(default_factory=list)  # gaps longer than the threshold
    errors: int = 0


async def follow(media_url: str, seconds: float, threshold_s: float = 1.5) -> Stalls:
    """Follow a live playlist with blocking reloads and every part, as a player does, and
    time the wait between new parts (a part is 0.32 s: a long wait is a stall)."""
    out = Stalls()
    base = media_url.rsplit("/", 1)[0]
    async with httpx.AsyncClient(timeout=10) as client:
        pl = parse_playlist((await client.get(media_url)).text)
        seen: set[tuple[int, int]] = {(m, i) for m, i, _, _ in pl.parts}
        last = time.monotonic()
        stop = last + seconds
        while time.monotonic() < stop:
            msn, idx = (pl.parts[-1][0], pl.parts[-1][1] + 1) if pl.parts else (
                pl.media_sequence, 0)
            try:
                r = await client.get(media_url, params={"_HLS_msn": msn, "_HLS_part": idx})
            except httpx.HTTPError:
                out.errors += 1
                continue
            if r.status_code != 200:
                out.errors += 1
                await asyncio.sleep(0.1)
                continue
            pl = parse_playlist(r.text)
            for m, i, uri, _ in pl.parts:
                if (m, i) in seen:
                    continue
                seen.add((m, i))
                part = await client.get(f"{base}/{uri}")
                if part.status_code != 200:
                    out.errors += 1
                now = time.monotonic()
                gap = now - last
                out.longest_gap_s = max(out.longest_gap_s, gap)
                if gap > threshold_s:
                    out.gaps_over.append(round(gap, 2))
                out.parts += 1
                last = now
    return out

"""Helpers for the speaker tests: stage API calls, an LL-HLS tail, tone checks over time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from harness.hls_client import decode, parse_playlist
from harness.server import Server, tone_power

RATE = 48000
PART_SAMPLES = 15 * 1024


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One API call, repeated while the origin sheds it (503: it does so under CPU load, by
    design, and the tests share two cores with WebRTC peers and browsers)."""
    for _ in range(40):
        res = httpx.request(method, url, timeout=10, **kwargs)
        if res.status_code != 503:
            return res
        time.sleep(0.1)
    return res


def details(server: Server, space_id: str) -> dict[str, Any]:
    res = call("GET", f"{server.base_url}/api/spaces/{space_id}")
    res.raise_for_status()
    doc: dict[str, Any] = res.json()
    return doc


def invite(server: Server, space: dict[str, Any], name: str, role: str = "speaker"
           ) -> dict[str, Any]:
    res = call("POST", f"{server.base_url}/api/spaces/{space['id']}/speakers",
               json={"name": name, "role": role}, headers=auth(space["host_key"]))
    assert res.status_code == 201, res.text
    doc: dict[str, Any] = res.json()
    return doc


async def eventually(check: Callable[[], bool], timeout: float, every: float = 0.05) -> float:
    """Wait until check() holds; returns when (monotonic). Fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(every)
    return time.monotonic()


def hears(pcm: npt.NDArray[np.float32], freq: float, share: float = 0.3) -> bool:
    return tone_power(pcm, RATE, freq) > share


class HlsTail:
    """Follows a space's LL-HLS from now on with blocking reloads; keeps (arrival, part)."""

    def __init__(self, server: Server, space_id: str) -> None:
        self.server = server
        self.space_id = space_id
        self.init = b""
        self.parts: list[tuple[float, bytes]] = []
        self.errors: list[str] = []

    async def run(self, seconds: float) -> None:
        base = await asyncio.to_thread(self.server.media_base, self.space_id)
        stop = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                r = await client.get(f"{base}/master.m3u8")
                if r.status_code == 200:
                    break
                assert time.monotonic() < stop, "the space never went on air"
                await asyncio.sleep(0.1)
            uri = next(ln for ln in r.text.splitlines() if ln and not ln.startswith("#"))
            media = f"{base}/{uri}"
            folder = media.rsplit("/", 1)[0]
            pl = parse_playlist((await client.get(media)).text)
            self.init = (await client.get(f"{folder}/init.mp4")).content
            seen = {(m, i) for m, i, _, _ in pl.parts}
            while time.monotonic() < stop:
                msn, idx = (pl.parts[-1][0], pl.parts[-1][1] + 1) if pl.parts else (
                    pl.media_sequence, 0)
                r = await client.get(media, params={"_HLS_msn": msn, "_HLS_part": idx})
                if r.status_code != 200:
                    self.errors.append(f"playlist {r.status_code}")
                    await asyncio.sleep(0.1)
                    continue
                pl = parse_playlist(r.text)
                for m, i, part_uri, _ in pl.parts:
                    if (m, i) in seen:
                        continue
                    seen.add((m, i))
                    p = await client.get(f"{folder}/{part_uri}")
                    if p.status_code == 200:
                        self.parts.append((time.monotonic(), p.content))
                    else:
                        self.errors.append(f"part {p.status_code}")

    def audio(self, after: float = 0.0, before: float = float("inf")
              ) -> npt.NDArray[np.float32]:
        """The decoded program carried by the parts that arrived in (after, before)."""
        if not self.parts:
            return np.zeros(0, np.float32)
        pcm, rate = decode(self.init + b"".join(data for _, data in self.parts))
        assert rate == RATE
        chunks = [pcm[k * PART_SAMPLES:(k + 1) * PART_SAMPLES]
                  for k, (t, _) in enumerate(self.parts) if after <= t < before]
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)

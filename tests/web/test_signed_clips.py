"""Signed clips are kept in memory per origin: signed once however many ask at once, the
least recently used out past `clip_cache_bytes`. No sockets."""

from __future__ import annotations

import asyncio
import threading

from townhall.settings import Settings
from townhall.web.signed_replay import SignedClips


def test_concurrent_requests_for_one_clip_sign_it_once() -> None:
    signed = []
    gate = threading.Event()

    def sign() -> bytes:
        gate.wait(5)
        signed.append(1)
        return b"x" * 100 + bytes([len(signed)])

    async def scenario() -> list[tuple[bytes, str]]:
        clips = SignedClips(10_000)
        waiting = [asyncio.create_task(clips.sign(("s", 1, 2), sign)) for _ in range(5)]
        await asyncio.sleep(0.05)
        gate.set()
        got = await asyncio.gather(*waiting)
        assert clips.get(("s", 1, 2)) == got[0]
        return got

    got = asyncio.run(scenario())
    assert len(signed) == 1 and len(set(got)) == 1
    assert got[0][1].startswith('"') and len(got[0][1]) == 34  # a strong, quoted ETag


def test_clips_past_the_limit_push_out_the_least_recently_used() -> None:
    async def scenario() -> SignedClips:
        clips = SignedClips(limit=250)
        for first in range(3):
            await clips.sign(("s", first, first), lambda f=first: bytes([f]) * 100)
            clips.get(("s", 0, 0))  # the first clip stays in use
        await clips.sign(("s", 9, 9), lambda: b"z" * 300)  # larger than the limit: not kept
        return clips

    clips = asyncio.run(scenario())
    assert clips.get(("s", 0, 0)) is not None and clips.get(("s", 2, 2)) is not None
    assert clips.get(("s", 1, 1)) is None and clips.get(("s", 9, 9)) is None
    assert clips.size == 200 and clips.size <= clips.limit and clips.evicted == 1


def test_the_clip_memory_is_a_setting() -> None:
    assert Settings().recording.clip_cache_bytes == 32 * 1024 * 1024

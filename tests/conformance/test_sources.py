"""Sources nobody here wrote, all at once: each is heard live, and in the replay, for the
whole time it sent (silence detection within 0.5 s).

ffmpeg (icecast://, real time), GStreamer `shout2send`, liquidsoap `output.icecast`, an
unpaced `curl -T` of an 18 s file, and a raw client that sends 1 s bursts.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.edge import Edge
from harness.hls_client import Follower, decode
from harness.server import Server, stop_process
from tests.audibility import audibility
from tests.conformance.conftest import tone_file
from tests.integration.test_paced_ingest import push_in_bursts

pytestmark = [pytest.mark.slow, pytest.mark.conformance, pytest.mark.timing]
SENT_S = 14.0


@dataclass
class Source:
    name: str
    sent_s: float
    start: Callable[[Server, dict[str, Any]], Callable[[], None]]  # returns a stopper


def _process(argv: list[str]) -> Callable[[], None]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return lambda: stop_process(proc)


def ffmpeg(server: Server, doc: dict[str, Any]) -> Callable[[], None]:
    return _process(["ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i",
                     f"sine=frequency=500:duration={SENT_S}", "-c:a", "aac", "-f", "adts",
                     doc["ingest_url"]])


def shout2send(server: Server, doc: dict[str, Any], tmp: Path) -> Callable[[], None]:
    src = tone_file(tmp / "gst.mp3", SENT_S, 600)
    return _process(["gst-launch-1.0", "-q", "filesrc", f"location={src}", "!",
                     "mpegaudioparse", "!", "shout2send", "ip=127.0.0.1",
                     f"port={server.ingest_port}", f"password={doc['host_key']}",
                     f"mount=/ingest/{doc['id']}"])


def liquidsoap(server: Server, doc: dict[str, Any], tmp: Path) -> Callable[[], None]:
    src = tone_file(tmp / "liq.mp3", SENT_S, 700)
    script = tmp / "source.liq"
    script.write_text(
        "settings.init.allow_root.set(true)\n"
        f's = once(single("{src}"))\n'
        f'output.icecast(%mp3(bitrate=128), host="127.0.0.1", port={server.ingest_port}, '
        f'password="{doc["host_key"]}", mount="ingest/{doc["id"]}", fallible=true, '
        "on_stop=shutdown, s)\n")
    return _process(["liquidsoap", str(script)])


def curl_unpaced(server: Server, doc: dict[str, Any], tmp: Path) -> Callable[[], None]:
    src = tone_file(tmp / "curl.mp3", 18, 800)
    return _process(["curl", "-sS", "-T", str(src), "-u", f"source:{doc['host_key']}",
                     f"http://127.0.0.1:{server.ingest_port}/ingest/{doc['id']}"])


def bursts(server: Server, doc: dict[str, Any], tmp: Path) -> Callable[[], None]:
    data = tone_file(tmp / "bursts.aac", SENT_S, 900, "aac", "adts").read_bytes()
    thread = threading.Thread(target=push_in_bursts, daemon=True, args=(
        server.ingest_port, doc["id"], doc["host_key"], data, SENT_S, 1.0))
    thread.start()
    return lambda: thread.join(60)


async def _live(server: Server, doc: dict[str, Any], client: httpx.AsyncClient) -> Follower:
    """Follow the space live (renewals are redirects the client follows) until it ends;
    end it once the server has played out what its source sent ("source left")."""
    joined = server.join(doc["id"])
    media = joined["playlist_url"].replace("master.m3u8", "media.m3u8")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 40
    while (await client.get(media)).status_code != 200 and loop.time() < deadline:
        await asyncio.sleep(0.2)
    follower = Follower(media, client)

    async def end_when_played_out() -> None:
        while f"source left {doc['id']}" not in server.log() and loop.time() < deadline + 60:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        for _ in range(20):  # a busy origin sheds with 503 + Retry-After: try again
            ended = await asyncio.to_thread(server.end_space, doc)
            if ended.status_code != 503:
                break
            await asyncio.sleep(1.0)
        assert ended.status_code == 200, ended.text

    ender = asyncio.create_task(end_when_played_out())
    await follower.run(deadline_s=100)
    await ender
    return follower


def test_every_source_is_heard_whole_live_and_in_the_replay(
        deployment: tuple[Server, Edge], tmp_path: Path) -> None:
    origin, _ = deployment
    makers: dict[str, tuple[float, Callable[..., Callable[[], None]]]] = {
        "ffmpeg": (SENT_S, lambda s, d, t: ffmpeg(s, d)), "shout2send": (SENT_S, shout2send),
        "liquidsoap": (SENT_S, liquidsoap), "curl -T": (18.0, curl_unpaced),
        "1 s bursts": (SENT_S, bursts)}
    docs = {name: origin.create_space(title=name) for name in makers}
    started = time.monotonic()
    stoppers: list[Callable[[], None]] = []

    async def scenario() -> list[Follower]:
        async with httpx.AsyncClient(timeout=30, follow_redirects=True) as client:
            # listeners first, so each hears its space from the first part
            tasks = [asyncio.create_task(_live(origin, docs[n], client)) for n in makers]
            for name, (_, maker) in makers.items():  # staggered: five probes at once are a
                stoppers.append(await asyncio.to_thread(  # CPU spike on a small machine
                    maker, origin, docs[name], tmp_path))
                await asyncio.sleep(1.0)
            return list(await asyncio.gather(*tasks))

    try:
        followers = asyncio.run(scenario())
    finally:
        for stop in stoppers:
            stop()
    problems = []
    for (name, (sent, _)), follower in zip(makers.items(), followers, strict=True):
        live = audibility(*decode(follower.init + follower.ordered_bytes()))
        if not live.heard_whole(sent):
            problems.append(f"{name} live: {live} of {sent} s")
        url = f"{origin.base_url}/replay/{docs[name]['id']}.m4a"
        replay = audibility(*decode(httpx.get(url, timeout=30).content))
        if not replay.heard_whole(sent):
            problems.append(f"{name} replay: {replay} of {sent} s")
    assert problems == [], problems
    assert time.monotonic() - started < 90

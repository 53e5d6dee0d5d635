"""End to end: real ffmpeg pushes into a real `townhall serve`; an LL-HLS follower listens."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from harness.hls_client import Follower, access_units, decode, parse_playlist
from harness.server import Server, push_tone, start_server, stop_server, tone_power
from townhall.recording.manifest import RecordingManifest, verify_chain

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(module_server: Server) -> Server:
    """One origin for the module: every test here makes its own space."""
    return module_server


PART_S = 15 * 1024 / 48000


async def wait_live(client: httpx.AsyncClient, server: Server, space_id: str,
                    timeout: float = 15) -> str:
    """Wait for the master playlist like a page would, return the media playlist URL."""
    master = f"{server.media_base(space_id)}/master.m3u8"
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        r = await client.get(master)
        if r.status_code == 200:
            uri = next(ln for ln in r.text.splitlines() if ln and not ln.startswith("#"))
            return master.rsplit("/", 1)[0] + "/" + uri
        await asyncio.sleep(0.1)
    raise TimeoutError("space did not go live")


def tone_gaps(pcm: np.ndarray, rate: int, freq: float, win: int = 960) -> tuple[float, float]:
    """(seconds of tone between first and last detection, longest gap inside it)."""
    flags = [tone_power(pcm[i:i + win], rate, freq) > 0.5 for i in range(0, len(pcm) - win, win)]
    on = [i for i, f in enumerate(flags) if f]
    if not on:
        return 0.0, float("inf")
    longest = run = 0
    for f in flags[on[0]:on[-1] + 1]:
        run = 0 if f else run + 1
        longest = max(longest, run)
    return (on[-1] - on[0] + 1) * win / rate, longest * win / rate


def test_ffmpeg_push_is_heard_live_without_gaps_and_replay_is_the_live_bytes(
        server: Server) -> None:
    doc = server.create_space(title="Tone", host="ffmpeg")
    push = push_tone(doc["ingest_url"], 20, 1000)

    async def scenario() -> Follower:
        async with httpx.AsyncClient(timeout=30) as client:
            follower = Follower(await wait_live(client, server, doc["id"]), client)

            async def end_after_push() -> None:
                await asyncio.to_thread(push.wait, 60)
                await asyncio.sleep(1.0)
                assert server.end_space(doc).status_code == 200

            ender = asyncio.create_task(end_after_push())
            await follower.run(deadline_s=60)
            await ender
            return follower

    follower = asyncio.run(scenario())
    assert push.returncode == 0
    assert follower.errors == []

    live = follower.init + follower.ordered_bytes()
    pcm, rate = decode(live)
    tone_s, longest_gap = tone_gaps(pcm, rate, 1000)
    assert tone_s >= 19.5, f"only {tone_s:.2f} s of tone heard"
    assert longest_gap <= PART_S, f"gap of {longest_gap:.3f} s inside the tone"

    replay = httpx.get(doc["replay_download_url"] if doc.get("replay_download_url")
                       else server.details(doc["id"])["replay_download_url"], timeout=30)
    assert replay.status_code == 200
    # the download re-muxes the published live bytes: the same access units, byte for byte
    assert access_units(replay.content) == access_units(live)
    replay_pcm, _ = decode(replay.content)
    assert abs(len(replay_pcm) - len(pcm)) / rate <= PART_S

    rec = server.data_dir / "recordings" / doc["id"]
    manifest = RecordingManifest.from_dict(json.loads((rec / "manifest.json").read_text()))
    assert manifest.complete and manifest.signature
    verify_chain(manifest, (rec / "init.mp4").read_bytes(),
                 [(rec / e.file).read_bytes() for e in manifest.segments])

    details = server.details(doc["id"])
    assert details["state"] == "ended"
    assert details["listeners"]["peak"] >= 1
    assert details["actual_start"] is not None


@pytest.mark.parametrize("codec,fmt,mime", [
    ("aac", "adts", "audio/aac"), ("libmp3lame", "mp3", "audio/mpeg"),
    ("libopus", "ogg", "audio/ogg"), ("pcm_s16le", "wav", "audio/wav")])
def test_chunked_put_of_common_formats_goes_live(server: Server, tmp_path: Path, codec: str,
                                                 fmt: str, mime: str) -> None:
    src = tmp_path / f"tone.{fmt}"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=660:duration=3", "-c:a", codec, "-f", fmt, str(src)],
                   check=True)
    doc = server.create_space()
    url = f"http://127.0.0.1:{server.ingest_port}/ingest/{doc['id']}"

    def chunks() -> object:
        data = src.read_bytes()
        for i in range(0, len(data), 4096):
            yield data[i:i + 4096]

    res = httpx.put(url, content=chunks(), auth=("source", doc["host_key"]),  # type: ignore[arg-type]
                    headers={"Content-Type": mime}, timeout=30)
    assert res.status_code == 200, res.text
    assert abs(res.json()["seconds_decoded"] - 3.0) < 0.1
    assert server.details(doc["id"])["state"] == "live"
    media = httpx.get(f"{server.media_base(doc['id'])}/media.m3u8?_HLS_msn=0&_HLS_part=1",
                      timeout=10)
    assert media.status_code == 200
    assert len(parse_playlist(media.text).parts) >= 2


def test_broadcast_command_pushes_a_file_in_real_time(server: Server, tmp_path: Path) -> None:
    src = tmp_path / "talk.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=500:duration=3", str(src)], check=True)
    doc = server.create_space()
    out = subprocess.run([sys.executable, "-m", "townhall.cli", "broadcast", str(src),
                          "--space", doc["id"], "--key", doc["host_key"], "--server",
                          server.base_url], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status_code"] == 200
    assert result["seconds_decoded"] >= 2.9
    assert server.details(doc["id"])["state"] == "live"


def test_reconnect_within_idle_pause_continues_the_timeline(server: Server) -> None:
    doc = server.create_space()
    assert push_tone(doc["ingest_url"], 3, 1000).wait(30) == 0
    assert push_tone(doc["ingest_url"], 3, 700).wait(30) == 0
    assert server.end_space(doc).status_code == 200
    text = httpx.get(f"{server.base_url}/replay/{doc['id']}/media.m3u8", timeout=10).text
    assert "#EXT-X-DISCONTINUITY" not in text
    pcm, rate = decode(httpx.get(f"{server.base_url}/replay/{doc['id']}.m4a", timeout=10).content)
    assert tone_gaps(pcm, rate, 1000)[0] >= 2.5
    assert tone_gaps(pcm, rate, 700)[0] >= 2.5


def test_reconnect_after_a_pause_continues_the_playlist_after_a_discontinuity(
        tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--idle-pause", "0.5")
    try:
        doc = srv.create_space()
        assert push_tone(doc["ingest_url"], 3, 1000).wait(30) == 0
        media = srv.media_base(doc["id"])
        first = parse_playlist(httpx.get(f"{media}/media.m3u8").text)
        assert first.parts, "the first connection published nothing"
        import time as _t

        _t.sleep(2.0)  # longer than --idle-pause: the program pauses
        assert push_tone(doc["ingest_url"], 3, 700).wait(30) == 0
        live = parse_playlist(httpx.get(f"{media}/media.m3u8").text)
        assert live.discontinuities, live.text
        # nothing already published is lost: the first connection's parts are still served
        _msn, _idx, uri, _ = first.parts[0]
        r = httpx.get(f"{media}/{uri}")
        assert r.status_code == 200
        assert srv.end_space(doc).status_code == 200
        pcm, rate = decode(httpx.get(f"{srv.base_url}/replay/{doc['id']}.m4a").content)
        assert tone_gaps(pcm, rate, 1000)[0] >= 2.5
        assert tone_gaps(pcm, rate, 700)[0] >= 2.5
    finally:
        stop_server(srv)

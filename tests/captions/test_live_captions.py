"""Captions end to end: a real origin with --captions behind a real nginx edge, espeak-ng
speech pushed by ffmpeg; the master playlist offers the WebVTT rendition, its segments come
through the edge under the listener's ticket with the audio's cache rules, GStreamer reads the
subtitle stream, and the host's switch takes the rendition away."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.edge import Edge, origin_behind_edge
from harness.server import Server, stop_process
from harness.speech import SENTENCES, need_espeak, speak_wav, word_errors, words
from townhall.captions.webvtt import parse_segment

pytestmark = [pytest.mark.slow, pytest.mark.conformance]
SPOKEN = " ".join(SENTENCES[:3])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Edge]]:
    need_espeak()
    with origin_behind_edge(tmp_path_factory.mktemp("captions"), "--captions",
                            "--log-level", "info") as pair:
        yield pair


def push_speech(ingest_url: str, wav: Path) -> subprocess.Popen[bytes]:
    """The speech in real time, a second of silence either side (so the program's clock
    runs before and after it)."""
    return subprocess.Popen(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-t", "1", "-i", "anullsrc=r=48000:cl=mono", "-i", str(wav),
         "-f", "lavfi", "-t", "3", "-i", "anullsrc=r=48000:cl=mono",
         "-filter_complex", "[1:a]aresample=48000,aformat=channel_layouts=mono[s];"
         "[0:a][s][2:a]concat=n=3:v=0:a=1", "-c:a", "aac", "-f", "adts", ingest_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_speech_is_captioned_in_a_webvtt_rendition_gstreamer_reads_through_the_edge(
        deployment: tuple[Server, Edge], tmp_path: Path) -> None:
    origin, edge = deployment
    doc = origin.create_space()
    wav = speak_wav(SPOKEN, tmp_path / "speech.wav")
    source = push_speech(doc["ingest_url"], wav)
    try:
        origin.wait_on_air(doc["id"])
        entry = origin.details(doc["id"])["playlist_url"].replace(origin.base_url, edge.url)
        with httpx.Client(follow_redirects=True, timeout=10) as client:
            master = client.get(entry)
            assert master.status_code == 200
            assert '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs"' in master.text
            assert 'SUBTITLES="subs"' in master.text
            ticketed = str(master.url)
            base = ticketed.rsplit("/", 1)[0]
            # each latency tier's entry offers the same rendition: a low-latency listener
            # (master.m3u8, LL-HLS) and a standard one (standard.m3u8)
            assert master.url.path.endswith("/master.m3u8")
            assert "#EXT-X-PART-INF" in client.get(f"{base}/media.m3u8").text
            standard = client.get(f"{base}/standard.m3u8")
            assert '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs"' in standard.text
            assert 'SUBTITLES="subs"' in standard.text
            # asked as the space goes on air, the rendition's playlist is never empty (it
            # waits for its first segment): a player that saw it empty may never ask again
            assert "#EXTINF" in client.get(f"{base}/subs.m3u8").text
            # cues become fetchable at the edge while the space is live
            texts: list[str] = []
            deadline, seen = time.monotonic() + 40, set()
            while time.monotonic() < deadline and "hand" not in " ".join(texts).lower():
                playlist = client.get(f"{base}/subs.m3u8")
                assert playlist.status_code == 200
                for uri in re.findall(r"^vtt/\d+\.vtt$", playlist.text, re.M):
                    if uri in seen:
                        continue
                    seen.add(uri)
                    res = client.get(f"{base}/{uri}")
                    assert res.status_code == 200, res.text
                    assert res.headers["content-type"].startswith("text/vtt")
                    assert res.headers["cache-control"] == "max-age=3600,immutable"
                    assert "X-TIMESTAMP-MAP=MPEGTS:" in res.text
                    texts += [c.text for c in parse_segment(res.text)[1]
                              if not texts or c.text != texts[-1]]
                time.sleep(0.5)
            errors, total = word_errors(SPOKEN, " ".join(texts))
            assert errors / total <= 0.35, texts
            # a segment path misspelled is refused at the edge, never asked of the origin
            assert client.get(f"{base}/vtt/007.vtt").status_code == 400
        assert source.wait(60) == 0
        assert origin.end_space(doc).status_code == 200
        # an independent player, on the listener's ticket: GStreamer's playbin3 (hlsdemux2)
        # picks the subtitles rendition and hands its cues to the text sink (Debian's
        # ffmpeg 5.1 skips SUBTITLES renditions: "Can't support the subtitle")
        text = tmp_path / "text.txt"
        out = subprocess.run(
            ["gst-launch-1.0", "-q", "playbin3", f"uri={ticketed}",
             "audio-sink=fakesink sync=false",
             f"text-sink=filesink location={text} sync=false"],
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        heard = set(words(text.read_text()))
        said = words(SPOKEN)
        assert sum(w in heard for w in said) / len(said) >= 0.7, text.read_text()
    finally:
        stop_process(source)


def test_the_host_switches_captions_off_and_the_rendition_leaves_the_master_playlist(
        deployment: tuple[Server, Edge]) -> None:
    origin, _edge = deployment
    doc = origin.create_space()
    url = f"{origin.base_url}/api/spaces/{doc['id']}/captions"
    assert httpx.get(url).json()["enabled"] is True
    assert httpx.put(url, json={"enabled": False}).status_code == 401
    assert httpx.put(url, json={"enabled": "maybe"},
                     headers={"Authorization": f"Bearer {doc['host_key']}"}).status_code == 422
    res = httpx.put(url, json={"enabled": False},
                    headers={"Authorization": f"Bearer {doc['host_key']}"})
    assert res.status_code == 200 and res.json()["enabled"] is False
    source = subprocess.Popen(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
         "-i", "sine=frequency=440:duration=8", "-c:a", "aac", "-f", "adts",
         doc["ingest_url"]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        origin.wait_on_air(doc["id"])
        base = origin.media_base(doc["id"])
        master = httpx.get(f"{base}/master.m3u8")
        assert "SUBTITLES" not in master.text
        assert httpx.get(f"{base}/subs.m3u8").json()["error"] == "no_captions"
    finally:
        stop_process(source)

"""A captioned space's replay names its transcript in the podcast feed, read by a real podcast
client library (feedparser), and the transcript is the speech on the replay's timeline; a
space whose host switched captions off names none. A real origin with --captions (the
bundled Whisper tiny.en), espeak-ng speech pushed by ffmpeg."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from xml.etree import ElementTree

import feedparser
import httpx
import pytest

from harness.server import free_port, push_tone, start_server, stop_process, stop_server
from harness.speech import SENTENCES, need_espeak, speak_wav, word_errors
from tests.reach.test_webhooks import Receiver, _wait
from townhall.captions.webvtt import parse_segment
from townhall.reach import podcast, signature

pytestmark = pytest.mark.slow
SPOKEN = " ".join(SENTENCES[:2])
SILENCE_S = 1.0  # before the speech


def push_speech(ingest_url: str, wav: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",  # -re: every input
         "-re", "-f", "lavfi", "-t", str(SILENCE_S), "-i", "anullsrc=r=48000:cl=mono",
         "-re", "-i", str(wav), "-re", "-f", "lavfi", "-t", "4", "-i", "anullsrc=r=48000:cl=mono",
         "-filter_complex", "[1:a]aresample=48000,aformat=channel_layouts=mono[s];"
         "[0:a][s][2:a]concat=n=3:v=0:a=1", "-c:a", "aac", "-f", "adts", ingest_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_captioned_replay_names_its_transcript_and_an_uncaptioned_one_none(
        tmp_path: Path) -> None:
    need_espeak()
    wav = speak_wav(SPOKEN, tmp_path / "speech.wav")
    srv = start_server(tmp_path / "data", "--captions", "--set", "shed_lag_scale=20",
                       "--set", "feed_cache_s=0", "--set", "transcript_poll_s=0.5",
                       "--log-level", "info", "--set", "webhook_allow_private=true",
                       "--set", "webhook_poll_s=0.2")
    source = None
    receiver = Receiver(free_port())
    receiver.start()
    try:
        base = srv.base_url
        hook = httpx.post(f"{base}/api/webhooks", headers=srv.hosting_headers(), timeout=10,
                          json={"url": f"http://127.0.0.1:{receiver.port}/hook",
                                "events": ["captions.ready"]})
        assert hook.status_code == 201, hook.text
        spoken = srv.create_space(title="Spoken")
        silent = srv.create_space(title="Not captioned")
        off = httpx.put(f"{base}/api/spaces/{silent['id']}/captions", json={"enabled": False},
                        headers={"Authorization": f"Bearer {silent['host_key']}"}, timeout=10)
        assert off.status_code == 200 and off.json()["captioned"] is False, off.text
        for _ in range(240):  # the recogniser loads its model before the speech starts
            if "captions: model" in srv.log():
                break
            subprocess.run(["sleep", "0.5"], check=True)
        tone = push_tone(silent["ingest_url"], 4, 500)
        source = push_speech(spoken["ingest_url"], wav)
        assert source.wait(120) == 0 and tone.wait(60) == 0
        # the space goes on a little after the speech, as spaces do: the recogniser's cues
        # reach their subtitle segments (one ended at once publishes what waits, cues or not)
        subprocess.run(["sleep", "8"], check=True)
        assert srv.end_space(spoken).status_code == 200
        assert srv.end_space(silent).status_code == 200
        # the last captions are kept a few seconds after the end
        feed = None
        for _ in range(60):
            body = httpx.get(f"{base}/feeds/all.xml", timeout=60).content
            root = ElementTree.fromstring(body)
            tags = {item.findtext("guid"): item.find(f"{{{podcast.PODCAST}}}transcript")
                    for item in root.iter("item")}
            if tags.get(podcast.guid(spoken["id"])) is not None:
                feed = body
                break
            subprocess.run(["sleep", "0.5"], check=True)
        assert feed is not None, (tags, srv.log()[-2000:])
        assert tags[podcast.guid(silent["id"])] is None  # captions off: no transcript
        tag = tags[podcast.guid(spoken["id"])]
        url = tag.attrib["url"]
        assert url == f"{base}/replay/{spoken['id']}/transcript.vtt"
        assert tag.attrib["type"] == "text/vtt" and tag.attrib["rel"] == "captions"
        parsed = feedparser.parse(feed)
        assert not parsed.bozo, parsed.bozo_exception
        entry = next(e for e in parsed.entries if e.id == podcast.guid(spoken["id"]))
        assert entry.enclosures[0].href.endswith(f"/replay/{spoken['id']}.m4a")
        res = httpx.get(url, timeout=30)
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/vtt")
        assert res.headers["etag"] and "max-age" in res.headers["cache-control"]
        _, cues = parse_segment(res.text)
        text = " ".join(c.text for c in cues)
        errors, total = word_errors(SPOKEN, text)
        duration = float(entry.itunes_duration)
        print(f"transcript: {len(cues)} cues, WER {errors}/{total}; first at "
              f"{cues[0].start:.2f} s; replay {duration} s")
        assert errors / total <= 0.4, res.text
        assert all(0 <= a.start < a.end <= duration + 1 for a in cues)
        assert cues == sorted(cues, key=lambda c: c.start)
        # the speech starts after the silence, on the replay's clock (within a segment)
        assert SILENCE_S - 0.5 <= cues[0].start <= SILENCE_S + 2.5, res.text
        assert httpx.get(f"{base}/replay/{silent['id']}/transcript.vtt",
                         timeout=10).status_code == 404
        # captions.ready, signed, for the captioned space only, once
        _wait(lambda: receiver.types("/hook"), 20, "captions.ready")
        subprocess.run(["sleep", "2"], check=True)
        (_, headers, raw), = receiver.got
        assert signature.verify(hook.json()["secret"], headers, raw, time.time())
        ready = json.loads(raw)
        assert ready["type"] == "captions.ready" and ready["data"]["space_id"] == spoken["id"]
        assert ready["data"]["transcript_url"] == url
        gone = httpx.delete(f"{base}/api/spaces/{spoken['id']}/replay", timeout=30,
                            headers={"Authorization": f"Bearer {spoken['host_key']}"})
        assert gone.status_code == 200
        assert httpx.get(url, timeout=10).status_code == 410  # withdrawn with the replay
    finally:
        if source is not None:
            stop_process(source)
        stop_server(srv)
        receiver.stop()

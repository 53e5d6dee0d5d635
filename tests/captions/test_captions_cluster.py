"""Captions in a cluster: two origins on one Redis and one database, both with --captions.
The holder recognises the program and shares each subtitle segment it publishes; the standby
serves those same bytes; after a kill -9 of the holder, the standby takes the program over
and captions what is said to it from then on, and what it served before stays as it was."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx
import pytest

from harness.cluster import cluster, wait_for
from harness.server import free_port, stop_process
from harness.speech import SENTENCES, need_espeak, speak_wav, words
from tests.captions.test_live_captions import push_speech
from townhall.captions.webvtt import parse_segment

pytestmark = [pytest.mark.slow, pytest.mark.timing]


def segments(base: str) -> dict[str, bytes]:
    listed = re.findall(r"^vtt/\d+\.vtt$", httpx.get(f"{base}/subs.m3u8", timeout=15).text,
                        re.M)
    return {uri: httpx.get(f"{base}/{uri}", timeout=5).content for uri in listed}


def heard(bodies: dict[str, bytes]) -> set[str]:
    return {w for body in bodies.values() for c in parse_segment(body.decode())[1]
            for w in words(c.text)}


def test_the_standby_serves_the_holders_captions_and_captions_on_after_a_kill(
        tmp_path: Path) -> None:
    need_espeak()
    first, second = " ".join(SENTENCES[:3]), " ".join(SENTENCES[6:9])
    with cluster(tmp_path, 2, free_port(), "--captions") as c:
        a, b = c.origins
        doc = c.origins[0].create_space()
        sid = doc["id"]
        source = push_speech(doc["ingest_url"], speak_wav(first, tmp_path / "first.wav"))
        try:
            a.wait_on_air(sid, timeout=30)
            assert c.holder(sid) == "a"
            base_a = a.media_base(sid).replace(c.public_url, a.base_url)
            base_b = b.media_base(sid).replace(c.public_url, b.base_url)
            # the standby serves what the holder recognised, byte for byte
            said = set(words(first))
            wait_for(lambda: len(heard(segments(base_b)) & said) >= 8, 60,
                     "the holder's cues at the standby")
            at_b = segments(base_b)
            at_a = segments(base_a)
            assert any(at_b[uri] == at_a[uri] for uri in at_b if uri in at_a)
            for uri in set(at_b) & set(at_a):
                assert at_b[uri] == at_a[uri], uri
            stop_process(source)
            a.process.send_signal(signal.SIGKILL)
            a.process.wait(5)
            wait_for(lambda: c.holder(sid) == "b", 10, "the standby to take the lease")
            # speech now reaches the new holder, which recognises it itself
            ingest = (f"icecast://source:{doc['host_key']}@127.0.0.1:{b.ingest_port}"
                      f"/ingest/{sid}")
            source = push_speech(ingest, speak_wav(second, tmp_path / "second.wav"))
            later = set(words(second)) - said
            wait_for(lambda: len(heard(segments(base_b)) & later) >= 5, 60,
                     "the new holder's own cues")
            now = segments(base_b)
            for uri in set(at_b) & set(now):  # published once: never rewritten
                assert now[uri] == at_b[uri], uri
        finally:
            stop_process(source)

"""Captions in a cluster: two origins on one Redis and one database, both with --captions.
The holder recognises the program and shares each subtitle segment it publishes; the standby
serves those same bytes; after a kill -9 of the holder, the standby takes the program over
and captions what is said to it from then on, and what it served before stays as it was."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import wave
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from harness.cluster import cluster, wait_for
from harness.server import free_port, stop_process
from harness.speech import SENTENCES, need_espeak, speak, speak_wav, words
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


def speech_with_times(path: Path, sentences: list[str], gap_s: float) -> list[tuple[float, float]]:
    """The sentences spoken one after another, `gap_s` between them (a speaker's breath: the
    cutter ends an utterance there), as a WAV file; each sentence's (start, end) in it."""
    rate = 48_000
    gap = np.zeros(round(gap_s * rate), np.float32)
    parts: list[npt.NDArray[np.float32]] = []
    times: list[tuple[float, float]] = []
    at = 0.0
    for sentence in sentences:
        pcm = speak(sentence, rate)
        times.append((at, at + len(pcm) / rate))
        parts += [pcm, gap]
        at += (len(pcm) + len(gap)) / rate
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(np.concatenate(parts), -1, 1) * 32767).astype(np.int16).tobytes())
    return times


def matched(reference: list[str], hypothesis: list[str]) -> list[bool]:
    """For each reference word, whether a word-level alignment (Levenshtein, as the word
    error rate counts) pairs it with the same word of the hypothesis."""
    n, m = len(reference), len(hypothesis)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            same = reference[i - 1] == hypothesis[j - 1]
            cost[i][j] = min(cost[i - 1][j] + 1, cost[i][j - 1] + 1,
                             cost[i - 1][j - 1] + (not same))
    hits = [False] * n
    i, j = n, m
    while i > 0 and j > 0:
        same = reference[i - 1] == hypothesis[j - 1]
        if cost[i][j] == cost[i - 1][j - 1] + (not same):
            hits[i - 1] = same
            i, j = i - 1, j - 1
        elif cost[i][j] == cost[i - 1][j] + 1:
            i -= 1
        else:
            j -= 1
    return hits


class Captions:
    """Every subtitle segment an origin's playlist has listed, kept as the window slides."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.bodies: dict[int, bytes] = {}

    def poll(self) -> None:
        listed = re.findall(r"^vtt/(\d+)\.vtt$",
                            httpx.get(f"{self.base}/subs.m3u8", timeout=15).text, re.M)
        for msn in map(int, listed):
            if msn not in self.bodies:
                self.bodies[msn] = httpx.get(f"{self.base}/vtt/{msn}.vtt", timeout=5).content

    def polling(self, check: Callable[[], bool]) -> Callable[[], bool]:
        """`check`, polling first (for wait_for: nothing listed in the meantime is missed)."""
        def polled() -> bool:
            self.poll()
            return check()
        return polled

    def words(self) -> list[str]:
        """The cue texts in order (a cue shown in several segments counted once), as words."""
        texts: list[str] = []
        for msn in sorted(self.bodies):
            for cue in parse_segment(self.bodies[msn].decode())[1]:
                if not texts or texts[-1] != cue.text:
                    texts.append(cue.text)
        return words(" ".join(texts))


def test_a_kill_of_the_holder_mid_utterance_loses_at_most_that_utterance(
        tmp_path: Path) -> None:
    """Continuous speech (half a second between sentences) pushed to the holder, which is
    killed in the middle of a sentence; the speaker reconnects to the standby and goes on.
    The standby's captions have every sentence said before the one in flight, and go on
    after the takeover; what was lost is measured (words and seconds of speech)."""
    need_espeak()
    sentences = SENTENCES + SENTENCES[:4]
    times = speech_with_times(tmp_path / "talk.wav", sentences, gap_s=0.5)
    aim = 5  # the holder is killed half-way through this sentence
    kill_at = (times[aim][0] + times[aim][1]) / 2  # s into the speech
    with cluster(tmp_path, 2, free_port(), "--captions") as c:
        a, b = c.origins
        doc = a.create_space()
        sid = doc["id"]
        time.sleep(3.0)  # both recognisers load before the speech (as in bench/captions.py)
        started = time.monotonic() + 1.0  # push_speech's second of silence first
        source = push_speech(doc["ingest_url"], tmp_path / "talk.wav")
        try:
            a.wait_on_air(sid, timeout=30)
            assert c.holder(sid) == "a"
            at_a = Captions(a.media_base(sid).replace(c.public_url, a.base_url))
            at_b = Captions(b.media_base(sid).replace(c.public_url, b.base_url))
            # the standby follows the holder's captions while the speech goes on
            wait_for(at_a.polling(at_b.polling(
                lambda: time.monotonic() - started >= kill_at)), 60,
                "the moment to kill the holder")
            assert set(at_b.words()) & set(words(" ".join(sentences[:aim]))), \
                "the standby had none of the holder's captions before the kill"
            a.process.send_signal(signal.SIGKILL)
            killed = time.monotonic() - started
            a.process.wait(5)
            stop_process(source)
            wait_for(at_b.polling(lambda: c.holder(sid) == "b"), 10,
                     "the standby to take the lease")
            # the speaker reconnects to the new holder and goes on where the speech is now
            resumed = time.monotonic() - started
            ingest = (f"icecast://source:{doc['host_key']}@127.0.0.1:{b.ingest_port}"
                      f"/ingest/{sid}")
            source = push_rest(ingest, tmp_path / "talk.wav", resumed)
            # the sentences the new holder's program hears whole (it goes on air first)
            rest = [i for i, (start, _end) in enumerate(times) if start >= resumed + 1.5]
            assert len(rest) >= 3, "the speech ended before the takeover"
            last = words(sentences[rest[-1]])

            wait_for(at_b.polling(lambda: source.poll() is not None), 90, "the speech's end")
            try:
                wait_for(at_b.polling(
                    lambda: sum(matched(last, at_b.words()[-len(last) - 4:])) >= len(last) // 2),
                    20, "the new holder's captions to the end")
            except AssertionError:
                raise AssertionError(f"the last sentence is not captioned: {at_b.words()}, "
                                     f"{b.log_path.read_text(errors='replace')[-3000:]}"
                                     ) from None
        finally:
            stop_process(source)
    # the sentence in flight: the last one begun before the kill (the program hears the
    # push a little after ffmpeg reads it: this errs towards a later sentence)
    in_flight = max(k for k, (start, _end) in enumerate(times) if start <= killed)
    said = [(i, w) for i, s in enumerate(sentences) for w in words(s)]
    hits = matched([w for _i, w in said], at_b.words())
    per_sentence = [[h for (i, _w), h in zip(said, hits, strict=True) if i == k]
                    for k in range(len(sentences))]
    # what the program heard (up to the kill) and no caption shows: the words missed between
    # the last sentence captioned before the kill and the kill itself
    heard_before = [k for k in range(len(sentences)) if times[k][0] < killed]
    lost = [(k, j) for k in heard_before for j, h in enumerate(per_sentence[k])
            if not h and k >= in_flight]
    lost_s = killed - min((times[k][0] + j / len(per_sentence[k]) * (times[k][1] - times[k][0])
                           for k, j in lost), default=killed)
    print(f"kill at {killed:.1f} s into the speech (sentence {in_flight}: "
          f"{times[in_flight][0]:.1f}-{times[in_flight][1]:.1f} s, {len(per_sentence[in_flight])}"
          f" words), speech again at "
          f"{resumed:.1f} s; captions lost: {len(lost)} words heard before the kill, "
          f"{lost_s:.1f} s of speech; recognition misses before: "
          f"{sum(not h for k in range(in_flight) for h in per_sentence[k])} words; "
          f"captioned per sentence: {[sum(p) for p in per_sentence]}; {at_b.words()}; "
          f"the holder had published {at_a.words()}")
    for k in range(in_flight):  # said before the utterance in flight: captioned
        assert sum(per_sentence[k]) >= 0.6 * len(per_sentence[k]), (k, at_b.words())
    for k in rest:  # after the takeover: captioned again
        assert sum(per_sentence[k]) >= 0.5 * len(per_sentence[k]), (k, at_b.words())
    # at most the utterance in flight: nothing of the sentences before it (checked above)
    assert all(k == in_flight for k, _j in lost), lost


def push_rest(ingest_url: str, wav: Path, offset_s: float) -> subprocess.Popen[bytes]:
    """The speech from `offset_s` on, in real time (a speaker who reconnected)."""
    return subprocess.Popen(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
         "-ss", f"{max(0.0, offset_s):.2f}", "-i", str(wav),
         "-f", "lavfi", "-t", "3", "-i", "anullsrc=r=48000:cl=mono",
         "-filter_complex", "[0:a]aresample=48000,aformat=channel_layouts=mono[s];"
         "[s][1:a]concat=n=2:v=0:a=1", "-c:a", "aac", "-f", "adts", ingest_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

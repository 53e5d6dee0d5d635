"""captions.ready survives the origin that captioned the space: killed (SIGKILL) the moment
its end is answered, before it announced the transcript, the origin's restart announces it
from the stored state (the outbox row it held, the ended record, the kept transcript), once,
signed, and a second restart adds nothing. A real origin with --captions (the bundled
Whisper tiny.en), espeak-ng speech pushed by ffmpeg, a real receiver."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from harness.server import free_port, start_server, stop_process, stop_server
from harness.speech import need_espeak, speak_wav
from tests.reach.test_transcript_feed import SPOKEN, push_speech
from tests.reach.test_webhooks import Receiver, _wait
from townhall.captions.webvtt import parse_segment
from townhall.reach import signature

pytestmark = pytest.mark.slow
FLAGS = ("--captions", "--set", "shed_lag_scale=20", "--set", "transcript_poll_s=0.5",
         "--log-level", "info", "--set", "webhook_allow_private=true",
         "--set", "webhook_poll_s=0.2", "--set", "webhook_hold_s=2")


def _kept(data: Path, space_id: str) -> int:
    with sqlite3.connect(data / "townhall.sqlite3", timeout=10) as db:
        row = db.execute("SELECT COUNT(*) FROM transcript_segments WHERE space_id = ?",
                         (space_id,)).fetchone()
    return int(row[0])


def test_captions_ready_is_announced_once_after_the_captioning_origin_is_killed_at_the_end(
        tmp_path: Path) -> None:
    need_espeak()
    wav = speak_wav(SPOKEN, tmp_path / "speech.wav")
    data = tmp_path / "data"
    srv = start_server(data, *FLAGS)
    receiver = Receiver(free_port())
    receiver.start()
    source = None
    try:
        hook = httpx.post(f"{srv.base_url}/api/webhooks", headers=srv.hosting_headers(),
                          timeout=10, json={"url": f"http://127.0.0.1:{receiver.port}/hook",
                                            "events": ["captions.ready"]})
        assert hook.status_code == 201, hook.text
        spoken = srv.create_space(title="Captioned, then its origin is killed")
        for _ in range(240):  # the recogniser loads its model before the speech starts
            if "captions: model" in srv.log():
                break
            subprocess.run(["sleep", "0.5"], check=True)
        source = push_speech(spoken["ingest_url"], wav)
        assert source.wait(120) == 0
        _wait(lambda: _kept(data, spoken["id"]) > 0, 30, "captions kept while live")
        subprocess.run(["sleep", "4"], check=True)
        assert srv.end_space(spoken).status_code == 200
        srv.process.send_signal(signal.SIGKILL)  # before its next copy: nothing announced
        srv.process.wait(10)
    finally:
        if source is not None:
            stop_process(source)
        stop_server(srv)
    try:
        assert receiver.got == []
        with sqlite3.connect(data / "townhall.sqlite3", timeout=10) as db:
            queued = db.execute("SELECT COUNT(*) FROM webhook_deliveries").fetchone()[0]
            held = db.execute("SELECT state FROM webhook_announcements").fetchall()
        assert queued == 0 and held == [("open",)], (queued, held)  # killed in between
        logs = []
        for _ in range(2):  # the second restart must send nothing more
            srv = start_server(data, *FLAGS)
            try:
                _wait(lambda: receiver.types("/hook"), 30, "captions.ready after the restart")
                time.sleep(2.0)  # several looks of the watch and the queue: nothing more
                logs.append(srv.log())
            finally:
                stop_server(srv)
            assert receiver.types("/hook") == ["captions.ready"], receiver.got
        (_, headers, raw), = receiver.got
        assert signature.verify(hook.json()["secret"], headers, raw, time.time()), headers
        ready = json.loads(raw)
        assert ready["data"]["space_id"] == spoken["id"]
        url = ready["data"]["transcript_url"]
        assert url.endswith(f"/replay/{spoken['id']}/transcript.vtt")
        srv = start_server(data, *FLAGS)
        try:
            res = httpx.get(f"{srv.base_url}/replay/{spoken['id']}/transcript.vtt", timeout=30)
            assert res.status_code == 200, res.text
            assert parse_segment(res.text)[1], res.text  # the cues kept while live
        finally:
            stop_server(srv)
        # the first restart took the killed origin's lapsed hold; the second found it done
        assert "captions.ready of " in logs[0] and "recovered from the store" in logs[0]
        assert "recovered from the store" not in logs[1]
    finally:
        receiver.stop()

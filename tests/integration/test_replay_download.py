"""The replay download is seekable over HTTP with its true duration, and carries the very
access units that went out live (the recorded segments)."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from harness.hls_client import access_units, decode
from harness.server import Server, push_tone

pytestmark = pytest.mark.slow


def test_replay_download_has_its_true_duration_answers_ranges_and_seeks(
        server: Server) -> None:
    doc = server.create_space()
    assert push_tone(doc["ingest_url"], 10, 800).wait(60) == 0
    assert server.end_space(doc).status_code == 200
    url = f"{server.base_url}/replay/{doc['id']}.m4a"
    rec = server.data_dir / "recordings" / doc["id"]
    manifest = json.loads((rec / "manifest.json").read_text())
    true_s = sum(seg["duration"] for seg in manifest["segments"])

    whole = httpx.get(url, timeout=30)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    segments = (rec / "init.mp4").read_bytes() + b"".join(
        (rec / seg["file"]).read_bytes() for seg in manifest["segments"])
    assert access_units(whole.content) == access_units(segments)

    part = httpx.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert part.content == whole.content[100:200]
    beyond = httpx.get(url, headers={"Range": f"bytes={len(whole.content) + 10}-"}, timeout=10)
    assert beyond.status_code == 416

    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                            "-of", "csv=p=0", url], capture_output=True, text=True, timeout=30)
    assert abs(float(probe.stdout) - true_s) < 0.1, (probe.stdout, probe.stderr, true_s)
    seeked = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-ss", str(true_s - 3), "-i",
                             url, "-f", "s16le", "-ac", "1", "-ar", "48000", "-"],
                            capture_output=True, timeout=30)
    assert seeked.returncode == 0, seeked.stderr
    assert abs(len(seeked.stdout) / 2 / 48000 - 3) < 0.2
    pcm, rate = decode(whole.content)
    assert abs(len(pcm) / rate - true_s) < 0.1

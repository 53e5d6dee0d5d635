"""The verifiable record end to end, on a real origin with ffmpeg pushing a tone: a checkpoint
taken live verifies against the replay downloaded afterwards, the replay and a clip carry C2PA
Content Credentials that c2pa's reader validates, `townhall verify` passes on both and names
the segment of a flipped byte, and a withdrawn replay answers 410 while its record stays."""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import c2pa
import httpx
import pytest

from harness.edge import start_edge
from harness.server import (
    Server,
    free_port,
    push_tone,
    start_server,
    stop_process,
    stop_server,
)
from townhall.cli import main
from townhall.commands.verify import BAD_INPUT, OK, TAMPERED
from townhall.recording import credentials
from townhall.recording.frames import progressive_frames
from townhall.recording.verify import split_media

pytestmark = pytest.mark.slow


# these tests are about the record, not shedding: a machine busy with other work must not
# turn their control calls into 503s
CALM = ("--set", "shed_lag_scale=20")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data", *CALM)
    try:
        yield srv
    finally:
        stop_server(srv)


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(["verify", *argv])
    return status, capsys.readouterr().out.strip()


def test_record_of_a_live_space_verifies_and_withdrawal_is_visible(
        server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = server.base_url
    doc = server.create_space(title="Town meeting", host="Mayor")
    sid = doc["id"]
    push = push_tone(doc["ingest_url"], 8, 660)
    try:
        server.wait_on_air(sid, 20)
        details = server.details(sid)
        key = httpx.get(f"{base}/.well-known/townhall-signing.json", timeout=10).json()
        assert details["signing_key"]["fingerprint"] == key["fingerprint"]
        assert details["signing_key"]["algorithm"] == "ECDSA-P256-SHA256"
        latest = httpx.get(f"{base}/record/{sid}/checkpoints/latest.json", timeout=10)
        assert latest.status_code == 200 and "max-age=1" in latest.headers["cache-control"]
        taken_live = latest.json()
        msn = json.loads(taken_live["payload"])["msn"]
        by_number = httpx.get(f"{base}/record/{sid}/checkpoints/{msn}.json", timeout=10)
        assert by_number.json() == taken_live
        assert "immutable" in by_number.headers["cache-control"]
        assert httpx.get(f"{base}/record/{sid}/manifest.json").status_code == 404  # not sealed
        assert push.wait(30) == 0
    finally:
        stop_process(push)
    assert server.end_space(doc).status_code == 200
    cp = tmp_path / "checkpoint.json"
    cp.write_text(json.dumps(taken_live))

    replay_url = server.details(sid)["replay_download_url"]
    first = httpx.get(replay_url, timeout=30)  # the plain bytes while credentials are made
    assert first.status_code == 200
    if first.headers.get("x-content-credentials") == "pending":
        assert first.headers["cache-control"] == "public, max-age=5"
        assert split_media(first.content)[2] is False
    deadline = time.monotonic() + 60
    while httpx.head(replay_url, timeout=30).headers.get("x-content-credentials"):
        assert time.monotonic() < deadline, "credentials were never made"
        time.sleep(0.2)
    status, out = verify(capsys, replay_url, "--checkpoint", str(cp), "--key",
                         key["fingerprint"])
    assert status == OK, out
    assert "1 checkpoint(s)" in out and "C2PA valid (signer untrusted)" in out

    # the replay's segments, as a player fetches them, against the manifest next to them
    status, out = verify(capsys, f"{base}/replay/{sid}/media.m3u8", "--checkpoint", str(cp))
    assert status == OK, out

    replay = httpx.get(replay_url, timeout=30).content
    reader = c2pa.Reader("audio/mp4", io.BytesIO(replay))
    report = json.loads(reader.json())
    reader.close()
    assert report["validation_state"] == "Valid"
    codes = [s["code"] for s in report.get("validation_status", [])]
    assert codes == ["signingCredential.untrusted"]
    creds = credentials.read(replay)
    assert creds.recording is not None and creds.recording["host"] == "Mayor"

    # offline: the file carries the signed manifest; a flipped audio byte names its segment
    local = tmp_path / "replay.m4a"
    local.write_bytes(replay)
    assert verify(capsys, str(local), "--checkpoint", str(cp))[0] == OK
    # re-muxed by another tool into a progressive MP4: checked by its AAC frames
    remuxed = tmp_path / "remuxed.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(local), "-c", "copy",
                    "-movflags", "+faststart", str(remuxed)], check=True, timeout=60)
    status, out = verify(capsys, str(remuxed), "--manifest", f"{base}/record/{sid}/manifest.json",
                         "--checkpoint", str(cp))
    assert status == OK, out
    # the download is progressive (seekable): flip a byte in the second segment's audio
    frames, _ = progressive_frames(replay)
    manifest = httpx.get(f"{base}/record/{sid}/manifest.json", timeout=10).json()
    second = manifest["segments"][1]
    frame = frames[manifest["segments"][0]["frames"]]  # the second segment's first frame
    at = replay.index(frame) + len(frame) // 2
    bad = bytearray(replay)
    bad[at] ^= 0x20
    local.write_bytes(bytes(bad))
    status, out = verify(capsys, str(local))
    assert status == TAMPERED and f"segment {second['msn']} " in out, out

    # a clip: redirected to whole segments, its own credentials, verifies offline
    res = httpx.get(f"{base}/replay/{sid}/clip?from=2.5&to=5", follow_redirects=True,
                    timeout=30)
    assert res.status_code == 200, res.text
    assert str(res.url).endswith("/clip/1-2.m4a")
    clip = tmp_path / "clip.m4a"
    clip.write_bytes(res.content)
    status, out = verify(capsys, str(clip), "--key", key["fingerprint"])
    assert status == OK and out.startswith("verified: clip") and "segments 1-2" in out, out
    for query in ("from=5&to=2", "from=x&to=2", "to=3", "from=9999&to=10000"):
        bad_range = httpx.get(f"{base}/replay/{sid}/clip?{query}", timeout=10)
        assert bad_range.status_code == 400 and bad_range.json()["error"] == "bad_clip_range"
    assert httpx.get(f"{base}/replay/{sid}/clip/0-9999.m4a").status_code == 400

    # withdrawal: the host only; the replay answers 410, the record stays public
    url = f"{base}/api/spaces/{sid}/replay"
    assert httpx.delete(url, timeout=10).status_code == 401
    res = httpx.delete(url, headers={"Authorization": f"Bearer {doc['host_key']}"}, timeout=10)
    assert res.status_code == 200 and res.json()["segments"] == len(manifest["segments"])
    gone = httpx.get(replay_url, timeout=10)
    assert gone.status_code == 410 and gone.json()["error"] == "replay_withdrawn"
    assert "s long" in gone.json()["detail"]
    assert httpx.get(f"{base}/replay/{sid}/media.m3u8").status_code == 410
    assert httpx.get(f"{base}/record/{sid}/manifest.json").json() == manifest
    assert httpx.get(f"{base}/record/{sid}").json()["state"] == "withdrawn"
    assert httpx.get(f"{base}/record/{sid}/checkpoints/{msn}.json").json() == taken_live
    assert server.details(sid)["replay_url"] is None
    status, out = verify(capsys, replay_url)
    assert status == BAD_INPUT and "410" in out


def test_the_record_is_cached_at_the_edge_and_verifies_through_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edge_port = free_port()
    origin = start_server(tmp_path / "data", "--public-url", f"http://127.0.0.1:{edge_port}",
                          *CALM)
    edge = None
    try:
        edge = start_edge(origin, tmp_path / "edge", edge_port)
        doc = origin.create_space(title="Edge", host="Host")
        sid = doc["id"]
        push = push_tone(doc["ingest_url"], 5, 440)
        try:
            origin.wait_on_air(sid, 20)
            msn = None
            with httpx.Client(base_url=edge.url, timeout=10) as client:
                # no ticket needed; the latest is collapsed per second, numbered ones for good
                first = client.get(f"/record/{sid}/checkpoints/latest.json")
                assert first.status_code == 200, first.text
                msn = json.loads(first.json()["payload"])["msn"]
                hits = [client.get(f"/record/{sid}/checkpoints/{msn}.json").headers["x-cache"]
                        for _ in range(2)]
                assert hits[1] == "HIT", hits
                key = [client.get("/.well-known/townhall-signing.json") for _ in range(2)]
                assert key[1].headers["x-cache"] == "HIT"
            cp = tmp_path / "cp.json"
            cp.write_text(json.dumps(first.json()))
            assert push.wait(30) == 0
        finally:
            stop_process(push)
        assert origin.end_space(doc).status_code == 200
        status, out = verify(capsys, f"{edge.url}/replay/{sid}.m4a", "--checkpoint", str(cp),
                             "--key", key[0].json()["fingerprint"])
        assert status == OK, out
    finally:
        if edge is not None:
            edge.stop()
        stop_server(origin)

"""The verifiable record on a real PostgreSQL shared by two origins: the checkpoints one origin
signed live and the manifest it sealed with the key are in the database, so another origin
(same signing key, nothing of the first one's on its disk) publishes the record, serves a
replay and a clip that `townhall verify` proves against a checkpoint taken live, and a
withdrawal made on one origin is seen by the other."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from harness.server import push_tone, start_server, stop_process, stop_server
from townhall.cli import main
from townhall.commands.verify import OK

pytestmark = pytest.mark.slow

# about the record, not shedding: a shared, busy CPU must not turn control calls into 503s
CALM = ("--set", "shed_lag_scale=20")


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(["verify", *argv])
    return status, capsys.readouterr().out.strip()


def test_another_origin_publishes_and_verifies_the_record_signed_on_the_first(
        tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    a = start_server(tmp_path / "a", "--database", pg_url, "--migrate", *CALM)
    b = None
    try:
        doc = a.create_space(title="Council", host="Clerk")
        sid = doc["id"]
        push = push_tone(doc["ingest_url"], 7, 550)
        try:
            a.wait_on_air(sid, 20)
            taken_live = httpx.get(f"{a.base_url}/record/{sid}/checkpoints/latest.json",
                                   timeout=10).json()
            assert push.wait(30) == 0
        finally:
            stop_process(push)
        assert a.end_space(doc).status_code == 200
        sealed = httpx.get(f"{a.base_url}/record/{sid}/manifest.json", timeout=10).json()
        assert sealed["complete"] and sealed["key_seal"] and sealed["init"]
        assert all(s["frames"] > 0 and s["frames_sha256"] for s in sealed["segments"])

        signing = tmp_path / "a" / "signing"
        b = start_server(tmp_path / "b", "--database", pg_url, "--signing-key",
                         str(signing / "key.pem"), "--signing-chain",
                         str(signing / "chain.pem"), *CALM)
        base = b.base_url
        assert httpx.get(f"{base}/record/{sid}/manifest.json", timeout=10).json() == sealed
        kept = httpx.get(f"{base}/record/{sid}/checkpoints.json", timeout=10).json()
        assert taken_live in kept["checkpoints"]
        assert len(kept["checkpoints"]) == len(sealed["segments"])
        msn = json.loads(taken_live["payload"])["msn"]
        assert httpx.get(f"{base}/record/{sid}/checkpoints/{msn}.json",
                         timeout=10).json() == taken_live
        assert httpx.get(f"{base}/record/{sid}", timeout=10).json()["state"] == "published"
        fingerprint = httpx.get(f"{base}/.well-known/townhall-signing.json",
                                timeout=10).json()["fingerprint"]
        cp = tmp_path / "checkpoint.json"
        cp.write_text(json.dumps(taken_live))

        replay_url = f"{base}/replay/{sid}.m4a"
        assert httpx.get(replay_url, timeout=30).status_code == 200  # starts the credentials
        deadline = time.monotonic() + 60
        while httpx.head(replay_url, timeout=30).headers.get("x-content-credentials"):
            assert time.monotonic() < deadline, "credentials were never made"
            time.sleep(0.2)
        status, out = verify(capsys, replay_url, "--checkpoint", str(cp), "--key", fingerprint)
        assert status == OK and "C2PA valid" in out, out
        clip = tmp_path / "clip.m4a"
        first = sealed["segments"][0]["msn"]
        clip.write_bytes(httpx.get(f"{base}/replay/{sid}/clip/{first}-{first + 1}.m4a",
                                   timeout=30).content)
        status, out = verify(capsys, str(clip), "--key", fingerprint)
        assert status == OK and out.startswith("verified: clip"), out
        assert not (tmp_path / "b" / "recordings" / sid).exists()

        # withdrawn on b: a, which served (and cached) the replay before, answers 410 too,
        # and the record stays
        assert httpx.get(f"{a.base_url}/replay/{sid}/media.m3u8", timeout=10).status_code == 200
        res = httpx.delete(f"{base}/api/spaces/{sid}/replay",
                           headers={"Authorization": f"Bearer {doc['host_key']}"}, timeout=10)
        assert res.status_code == 200, res.text
        gone = httpx.get(f"{a.base_url}/replay/{sid}/media.m3u8", timeout=10)
        assert gone.status_code == 410 and gone.json()["error"] == "replay_withdrawn"
        state = httpx.get(f"{a.base_url}/record/{sid}", timeout=10).json()
        assert state["state"] == "withdrawn" and state["withdrawal"] == res.json()
    finally:
        if b is not None:
            stop_server(b)
        stop_server(a)

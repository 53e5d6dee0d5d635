"""One stage in a cluster: the details of a space, asked of any origin, show the stage of the
origin running its program (who is live, muted, speaking), and after that origin is killed
and the speaker has rejoined on another, every origin shows the new holder's stage."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.cluster import cluster, wait_for
from harness.server import Server, free_port
from tests.cluster.speaker_helpers import SpeakerThread

pytestmark = pytest.mark.slow
WEBRTC = ("--set", "ice_host_addresses=127.0.0.1", "--set", "whip_candidate_networks=127.0.0.0/8",
          "--idle-pause", "60")


def stage(origin: Server, space_id: str) -> dict[str, Any]:
    res = httpx.get(f"{origin.base_url}/api/spaces/{space_id}", timeout=10)
    # (503: an origin busy for a moment; 429: polled too often from one address)
    assert res.status_code in (200, 429, 503), res.text
    doc = res.json() if res.status_code == 200 else {"speakers": [], "speaking": [],
                                                     "raised_hands": -1}
    return {"live": sorted((s["id"], s["state"], s["muted"]) for s in doc["speakers"]),
            "speaking": sorted(doc["speaking"]), "raised_hands": doc["raised_hands"]}


def one_stage_with_host_speaking(origins: list[Server], space_id: str) -> bool:
    time.sleep(0.3)  # under the origins' per-address API rate
    seen = [stage(o, space_id) for o in origins]
    return all(s == seen[0] for s in seen) and seen[0]["speaking"] == ["host"] and \
        [seat[:2] for seat in seen[0]["live"]] == [("host", "live")]


def test_every_origin_shows_the_stage_of_the_origin_running_the_program(
        tmp_path: Path) -> None:
    with cluster(tmp_path, 3, free_port(), *WEBRTC) as c:
        a, b, third = c.origins
        doc = a.create_space(title="one stage", host="Ada")
        sid, key = doc["id"], doc["host_key"]
        speakers = [SpeakerThread(a.base_url, sid, key, 440)]
        try:
            speakers[0].start()
            speakers[0].wait_published(30)
            wait_for(lambda: c.holder(sid) == "a", 15, "a running the program")
            # the host speaks on a; b and the third origin show a's stage
            wait_for(lambda: one_stage_with_host_speaking(c.origins, sid), 15,
                     "one stage on every origin")

            a.process.send_signal(signal.SIGKILL)
            speakers[0].close()
            speakers.append(SpeakerThread(b.base_url, sid, key, 440))  # the speaker rejoins
            speakers[-1].start()
            speakers[-1].wait_published(30)
            wait_for(lambda: c.holder(sid) == "b", 15, "b running the program")
            wait_for(lambda: one_stage_with_host_speaking([b, third], sid), 15,
                     "the new holder's stage on the other origin")
        finally:
            for speaker in speakers:
                speaker.close()

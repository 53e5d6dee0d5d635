"""Standard players keep playing past their ticket's lifetime: the media URL renews itself.

Real ffmpeg, given only the details' `playlist_url` (through a real nginx edge), plays for
several ticket lifetimes with no code of ours; a ticket whose seat was given back stops
working once it lapses; forged tickets still die at the edge.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from harness.edge import Edge, origin_behind_edge, origin_metrics
from harness.server import Server, push_tone, stop_process
from tests.audibility import audibility

pytestmark = pytest.mark.slow
SHORT = ("--set", "seat_ttl_s=10", "--set", "seat_ttl_max_s=10", "--set", "ticket_grace_s=5")


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Server, Edge]]:
    with origin_behind_edge(tmp_path, *SHORT, "--set", "part_hold_back_parts=5") as pair:
        yield pair


def test_ffmpeg_plays_through_ticket_renewals_it_never_asked_for(
        deployment: tuple[Server, Edge]) -> None:
    origin, edge = deployment
    doc = origin.create_space()
    push = push_tone(doc["ingest_url"], 40, 1000)
    try:
        origin.wait_on_air(doc["id"], 20)
        entry = origin.details(doc["id"])["playlist_url"].replace(origin.base_url, edge.url)
        # tickets live 5 s here: 22 s of listening crosses four renewals
        player = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", entry, "-t", "22", "-f", "f32le",
             "-ac", "1", "-ar", "48000", "-"], capture_output=True, timeout=90)
        assert player.returncode == 0, player.stderr.decode()[-2000:]
        pcm = np.frombuffer(player.stdout, dtype=np.float32)
        heard = audibility(pcm, 48000)
        assert heard.heard_whole(22.0), heard
        counters = origin_metrics(origin)["counters"]
        # renewed several times, but not on every reload: the edge reuses each redirect
        assert 3 <= counters["player_renewed"] <= 12, counters
    finally:
        stop_process(push)


def test_a_given_back_seat_stops_its_url_and_forged_tickets_die_at_the_edge(
        deployment: tuple[Server, Edge]) -> None:
    origin, edge = deployment
    doc = origin.create_space()
    push = push_tone(doc["ingest_url"], 30, 1000)
    try:
        origin.wait_on_air(doc["id"], 20)
        joined = origin.join(doc["id"])
        url = joined["playlist_url"].replace(origin.base_url, edge.url)
        assert httpx.get(url, timeout=10).status_code == 200
        forged = url.replace(joined["ticket"], joined["ticket"][:-3] + "AAA")
        before = origin_metrics(origin)["counters"]["media_forged"]
        assert httpx.get(forged, timeout=10).status_code == 403
        assert origin_metrics(origin)["counters"]["media_forged"] == before  # never asked
        left = httpx.post(f"{origin.base_url}/api/spaces/{doc['id']}/leave",
                          json={"ticket": joined["ticket"],
                                "seat_secret": joined["seat_secret"]}, timeout=10)
        assert left.status_code == 204
        time.sleep(6)  # past the ticket's 5 s
        gone = httpx.get(url, timeout=10, follow_redirects=False)
        assert gone.status_code == 403 and gone.json()["error"] == "seat_gone", gone.text
    finally:
        stop_process(push)

"""The host's median listening time with tickets, from standard players that run none of our
code: real ffmpeg players join at the entry URL, play through several ticket renewals (8 s
tickets) and stop after known times; the analytics' median is within a stated margin of the
real median time played. Straight at the origin, and through a real nginx edge.

Margins (admission/listening.py: a seat is placed in the middle of the window between its last
renewal and its next one due, so the error is at most half that interval):
- straight at an origin a player reloading its lapsed URL renews at every reload, about once
  per target duration: 3 s;
- behind an edge a lapsed ticket plays on at its own URLs and the edge asks the origin's
  renewal check once per ticket lifetime (8 s): half of it plus a reload, 5 s."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from harness.edge import origin_behind_edge
from harness.server import Server, push_tone, start_server, stop_process, stop_server

pytestmark = pytest.mark.slow

FLAGS = ("--set", "seat_ttl_s=16", "--set", "seat_ttl_max_s=16", "--set", "ticket_grace_s=8",
         "--set", "shed_lag_scale=20", "--set", "analytics_every_s=1")
PLAYS_S = (10.0, 22.0, 34.0)  # each player's wall time: one to several ticket renewals
MARGIN_S = {"origin": 3.0, "edge": 5.0}


@contextmanager
def _deployment(root: Path, via: str) -> Iterator[tuple[Server, str]]:
    """The origin, and the base URL players use (the origin's own, or an edge's)."""
    if via == "edge":
        with origin_behind_edge(root, *FLAGS) as (origin, edge):
            yield origin, edge.url
        return
    srv = start_server(root / "data", *FLAGS)
    try:
        yield srv, srv.base_url
    finally:
        stop_server(srv)


@pytest.mark.parametrize("via", ["origin", "edge"])
def test_median_listening_time_from_ticket_renewals_is_within_margin(
        tmp_path: Path, via: str) -> None:
    players: list[subprocess.Popen[bytes]] = []
    with _deployment(tmp_path, via) as (srv, base):
        try:
            doc = srv.create_space(title="Listened")
            sid = doc["id"]
            pusher = push_tone(doc["ingest_url"], max(PLAYS_S) + 10, 440)
            srv.wait_on_air(sid, 30)
            entry = srv.details(sid)["playlist_url"].replace(srv.base_url, base)
            assert entry == f"{base}/live/{sid}/master.m3u8"
            started = time.monotonic()
            players = [subprocess.Popen(
                ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", entry,
                 "-f", "null", "-"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for _ in PLAYS_S]
            played: list[float] = []
            for player, plays in zip(players, PLAYS_S, strict=True):
                time.sleep(max(0.0, started + plays - time.monotonic()))
                assert player.poll() is None, "the player stopped by itself"
                stop_process(player)
                played.append(time.monotonic() - started)
            assert pusher.wait(60) == 0
            assert srv.end_space(doc).status_code == 200
            counters = httpx.get(f"{srv.base_url}/api/admin/metrics", timeout=10,
                                 headers=srv.hosting_headers()).json()["counters"]
            got = httpx.get(f"{srv.base_url}/api/spaces/{sid}/analytics", timeout=10,
                            headers={"Authorization": f"Bearer {doc['host_key']}"}).json()
            median = got["summary"]["median_listening_s"]
            real = statistics.median(played)
            print(f"{via}: real {[round(p, 1) for p in played]} median {real:.1f} s; "
                  f"reported {median} s; origin renewals {counters['player_renewed']}")
            assert median is not None and abs(median - real) <= MARGIN_S[via], (median, played)
            assert got["summary"]["unique_listeners"] == len(PLAYS_S)
        finally:
            for player in players:
                stop_process(player)

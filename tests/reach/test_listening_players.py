"""The host's median listening time with tickets, from standard players that run none of our
code: real ffmpeg players join at the entry URL, play through several ticket renewals (8 s
tickets) and stop after known times; the analytics' median is within a stated margin of the
real median time played.

Margin: a player that reloads a lapsed URL straight at an origin renews at every reload, so
its stop is placed within one reload interval (ffmpeg reloads about once per target duration,
at most 3 s here), plus the time its join waits for a startable playlist: MARGIN_S = 3 s."""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from harness.server import push_tone, start_server, stop_process, stop_server

pytestmark = pytest.mark.slow

SHORT_TICKETS = ("--set", "seat_ttl_s=16", "--set", "seat_ttl_max_s=16",
                 "--set", "ticket_grace_s=8")
PLAYS_S = (10.0, 22.0, 34.0)  # each player's wall time: 1, 2 and 4 ticket renewals or more
MARGIN_S = 3.0


def test_median_listening_time_from_ticket_renewals_is_within_margin(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", *SHORT_TICKETS, "--set", "shed_lag_scale=20",
                       "--set", "analytics_every_s=1")
    players: list[subprocess.Popen[bytes]] = []
    try:
        doc = srv.create_space(title="Listened")
        sid = doc["id"]
        pusher = push_tone(doc["ingest_url"], max(PLAYS_S) + 10, 440)
        srv.wait_on_air(sid, 30)
        entry = srv.details(sid)["playlist_url"]
        assert entry.endswith(f"/live/{sid}/master.m3u8")
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
        renewed = httpx.get(f"{srv.base_url}/api/admin/metrics", timeout=10,
                            headers=srv.hosting_headers()).json()
        got = httpx.get(f"{srv.base_url}/api/spaces/{sid}/analytics", timeout=10,
                        headers={"Authorization": f"Bearer {doc['host_key']}"}).json()
        median = got["summary"]["median_listening_s"]
        real = statistics.median(played)
        print(f"real {played} median {real:.1f} s; reported {median} s; renewals "
              f"{renewed['counters']['player_renewed']}")
        assert median is not None and abs(median - real) <= MARGIN_S, (median, played)
        assert got["summary"]["unique_listeners"] == len(PLAYS_S)
    finally:
        for player in players:
            stop_process(player)
        stop_server(srv)

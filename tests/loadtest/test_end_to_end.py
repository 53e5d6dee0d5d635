"""End to end, small scale: real ffmpeg pushes into a real `townhall serve`; simulated LL-HLS
and plain HLS listeners (and a few attackers) follow it; the command writes its report."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from harness.server import push_tone, start_server, stop_server
from townhall.cli import main
from townhall.loadtest import LoadConfig, LoadReport, run_load

pytestmark = [pytest.mark.slow, pytest.mark.timing]


def test_listeners_hear_a_live_space_without_stalls_and_the_report_is_written(
        tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--set", "seat_ttl_s=8")  # renew every 4 s
    push: subprocess.Popen[bytes] | None = None
    try:
        doc = srv.create_space(title="Load")
        push = push_tone(doc["ingest_url"], 20)
        srv.wait_on_air(doc["id"])
        ll = LoadConfig(target=srv.base_url, space=doc["id"], listeners=20, duration_s=10,
                        join_window_s=1.0, attacks=("forged", "ticketless", "details", "slow"),
                        attack_rate=20, seed=1)
        plain = LoadConfig(target=srv.base_url, space=doc["id"], listeners=5, duration_s=12,
                           mode="plain", listener_network=21, seed=2)
        cli_args = ["loadtest", "--target", srv.base_url, "--space", doc["id"], "--listeners",
                    "3", "--duration", "6", "--listener-network", "22", "--quiet", "--report",
                    str(tmp_path / "out" / "report.json"), "--plots", str(tmp_path / "plots")]

        async def scenario() -> tuple[LoadReport, LoadReport, int]:
            return await asyncio.gather(run_load(ll), run_load(plain),
                                        asyncio.to_thread(main, cli_args))

        ll_report, plain_report, cli_status = asyncio.run(scenario())
    finally:
        if push is not None:
            push.kill()
            push.wait(10)
        stop_server(srv)

    assert ll_report.crashes == [] and plain_report.crashes == []
    assert (ll_report.admitted, ll_report.played, ll_report.failed) == (20, 20, 0)
    assert ll_report.stalls == 0 and ll_report.gaps == 0, ll_report.timeline
    assert ll_report.errors == {}, ll_report.errors
    assert ll_report.events.get("renewed", 0) >= 20  # every listener renewed its ticket
    assert ll_report.ttfa_s["p99"] is not None and ll_report.ttfa_s["p99"] < 2.0
    edge = ll_report.live_edge_s
    assert edge["p50"] is not None and edge["p95"] is not None
    assert 0.5 < edge["p50"] < edge["p95"] < 3.0  # LL-HLS: about PART-HOLD-BACK behind
    assert len(ll_report.timeline) == 10
    assert max(s.listeners.get("playing", 0) for s in ll_report.timeline) == 20
    outcomes = ll_report.attack["by_outcome"]
    assert outcomes.get("403", 0) > 0 and outcomes.get("200", 0) > 0  # refused media, details
    assert ll_report.attack["by_pattern"].get("slow", 0) > 0

    assert (plain_report.played, plain_report.stalls, plain_report.errors) == (5, 0, {})
    plain_edge = plain_report.live_edge_s["p50"]
    assert plain_edge is not None and plain_edge > edge["p95"]  # three target durations behind

    assert cli_status == 0
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert written["listeners_requested"] == 3 and written["played"] == 3
    assert written["stalls"] == 0 and len(written["timeline"]) == 6
    for name in ("listeners.png", "stalls.png", "latency.png"):
        assert (tmp_path / "plots" / name).read_bytes().startswith(b"\x89PNG")
